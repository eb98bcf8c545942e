using Kiln.Ir;

namespace Kiln.Tests.Ir;

public class NpyTests
{
    [Theory]
    [InlineData(ElementType.Float32)]
    [InlineData(ElementType.Float64)]
    [InlineData(ElementType.Float16)]
    [InlineData(ElementType.Int8)]
    [InlineData(ElementType.UInt16)]
    [InlineData(ElementType.Int64)]
    [InlineData(ElementType.UInt64)]
    [InlineData(ElementType.Bool)]
    public void WriteThenReadIsExact(ElementType type)
    {
        var t = TensorData.Zeros(type, 2, 3);
        var bytes = t.RawBytes();
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)(type == ElementType.Bool ? i % 2 : i * 37 + 1);
        var back = Npy.Read(Npy.Write(t));
        Assert.True(back.BitwiseEquals(t));
    }

    [Fact]
    public void OneDimensionalShapeUsesTrailingComma()
    {
        var bytes = Npy.Write(TensorData.Vector(1, 2, 3));
        Assert.Contains("(3,)", System.Text.Encoding.Latin1.GetString(bytes));
        Assert.Equal(0, (bytes.Length - 24) % 8);
    }

    [SkippableFact]
    public void ReadsTheSharedReferenceInputs()
    {
        Skip.If(SharedData.Models is null, SharedData.MissingMessage);
        var t = Npy.Read(Path.Combine(SharedData.Models!, "namaste_deepa", "inputs", "onnx__Flatten_0.npy"));
        Assert.Equal(ElementType.Float32, t.ElementType);
        Assert.Equal(new long[] { 1, 24, 96 }, t.Shape);
    }

    [Theory]
    [InlineData(new byte[] { 1, 2, 3 }, "bad magic")]
    [InlineData(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, 0xFF, 0x7F }, "truncated header")]
    public void MalformedFilesAreClearErrors(byte[] file, string expected)
    {
        var e = Assert.Throws<KilnException>(() => Npy.Read(file));
        Assert.Equal(ErrorCode.InvalidData, e.Code);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void DataSizeMismatchIsAnError()
    {
        var bytes = Npy.Write(TensorData.FromFloats([4], [1, 2, 3, 4]));
        var e = Assert.Throws<KilnException>(() => Npy.Read(bytes.AsSpan(0, bytes.Length - 1)));
        Assert.Contains("needs 16 data bytes", e.Message);
    }
}
