using Kiln.Ir;
using static Kiln.Tests.Kernels.KernelOracle;

namespace Kiln.Tests.Kernels;

/// <summary>
/// Pad against the reference: every mode with pads given at run time (the "pad" kernel) and
/// constant mode with pads known to the compiler (fill and copy), negative pads that crop, pads
/// wider than the axis, partial axes, element types, and pads that disagree with the compiled shape.
/// </summary>
public class PadTests
{
    private static void Pad(TensorData x, long[] pads, string mode, bool constantPads, long[]? axes = null, TensorData? value = null)
    {
        var o = new KernelOracle();
        int rank = x.Rank;
        var padded = axes?.Select(a => (int)(a < 0 ? a + rank : a)).ToArray() ?? Enumerable.Range(0, rank).ToArray();
        var shape = (long[])x.Shape.Clone();
        for (int i = 0; i < padded.Length; i++) shape[padded[i]] += pads[i] + pads[i + padded.Length];
        Value?[] inputs = [o.Input(x), o.Operand(TensorData.Vector(pads), constantPads), value is null ? null : o.Operand(value, constantPads),
            axes is null ? null : o.Operand(TensorData.Vector(axes), constantPads)];
        o.Op("Pad", inputs, [String("mode", mode)], declared: [new TensorType(x.ElementType, Shape.Of(shape))]);
        o.Check();
    }

    public static TheoryData<string, bool> Modes()
    {
        var data = new TheoryData<string, bool>();
        foreach (var mode in new[] { "constant", "reflect", "edge", "wrap" })
        {
            data.Add(mode, false);
            data.Add(mode, true);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void PadsOfEveryShape(string mode, bool constantPads)
    {
        var x = Floats(1, 2, 4, 5);
        Pad(x, [0, 1, 2, 0, 2, 1], mode, constantPads);
        Pad(x, [1, 0, 3, 0, 0, 4], mode, constantPads);          // several reflections of a short axis
        Pad(x, [0, -1, 2, 0, 1, -2], mode, constantPads);         // crop one side, pad the other
        Pad(x, [2, 9], mode, constantPads, axes: [-1]);           // wider than the axis
        Pad(x, [1, 1, 2, 0], mode, constantPads, axes: [0, 2]);
        Pad(Random(2, ElementType.Int64, 3, 1), [2, 3, 1, 1], mode, constantPads);
    }

    [Fact]
    public void ConstantValueAndTypes()
    {
        Pad(Floats(3, 3, 3), [1, 2, 0, 1], "constant", false, value: TensorData.Scalar(ElementType.Float32, 7.5f));
        Pad(Floats(4, 3, 3), [1, 2, 0, 1], "constant", true, value: TensorData.Scalar(ElementType.Float32, -2f));
        Pad(Random(5, ElementType.Int8, 2, 6), [0, 3, 0, 2], "reflect", false);
        Pad(Random(6, ElementType.Float16, 2, 6), [1, 1, 1, 1], "edge", false);
        Pad(Floats(7, 0, 3), [1, 0, 1, 0], "constant", false);
    }

    [Fact]
    public void PadsMustProduceTheCompiledShape()
    {
        var o = new KernelOracle();
        o.Op("Pad", [o.Input(Floats(8, 2, 3)), o.Input(TensorData.Vector(0, 2, 0, 0))], [String("mode", "edge")],
            declared: [new TensorType(ElementType.Float32, Shape.Of(2, 4))]);
        // The host program checks the pads it reads against the compiled shape before the kernel runs.
        o.CheckFails("the compiled program has 4");
    }
}
