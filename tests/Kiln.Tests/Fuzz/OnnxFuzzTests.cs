using Google.Protobuf;
using Kiln.Ir;
using Kiln.Onnx;
using Kiln.Onnx.Proto;

namespace Kiln.Tests.Fuzz;

/// <summary>
/// Mutates valid ONNX models (truncation, bit flips, corrupted length prefixes, huge declared
/// sizes, structural damage) and checks that every failure to import is a KilnException — never
/// another exception, a hang, or an out-of-memory. Deterministic: seeded per model.
/// </summary>
public class OnnxFuzzTests
{
    private static readonly string[] Seeds =
    [
        "node/test_conv_with_strides_padding", "node/test_if", "node/test_loop11", "node/test_sequence_map_add_2_sequences",
        "node/test_cast_FLOAT_to_FLOAT8E4M3FN", "node/test_reshape_negative_dim", "node/test_resize_upsample_scales_linear",
        "simple/test_sign_model", "pytorch-converted/test_Conv2d",
    ];

    public static TheoryData<string> SeedModels()
    {
        var data = new TheoryData<string>();
        foreach (var s in Seeds) data.Add(s);
        return data;
    }

    private static byte[]? Load(string id)
    {
        if (SharedData.OnnxBackend is null) return null;
        var path = Path.Combine(SharedData.OnnxBackend, id, "model.onnx");
        return File.Exists(path) ? File.ReadAllBytes(path) : null;
    }

    /// <summary>Imports bytes; returns normally or throws KilnException. Anything else, or over 20 s, fails the test.</summary>
    private static void ImportMustFailCleanly(byte[] bytes, string what)
    {
        var task = Task.Run(() =>
        {
            try { OnnxImporter.Load(bytes); }
            catch (KilnException) { }
        });
        Assert.True(task.Wait(TimeSpan.FromSeconds(20)), $"{what}: import did not finish in 20 s");
        if (task.Exception is { } e) Assert.Fail($"{what}: {e.InnerException?.GetType().Name}: {e.InnerException?.Message}\n{e.InnerException?.StackTrace}");
    }

    [SkippableTheory]
    [MemberData(nameof(SeedModels))]
    public void ByteMutations(string id)
    {
        var original = Load(id);
        Skip.If(original is null, SharedData.MissingMessage);
        var rng = new Random(id.GetHashCode(StringComparison.Ordinal) & 0x7FFFFFFF ^ 12345);
        for (int round = 0; round < 400; round++)
        {
            var bytes = (byte[])original!.Clone();
            string kind;
            switch (round % 5)
            {
                case 0:
                    kind = "truncate";
                    Array.Resize(ref bytes, rng.Next(bytes.Length));
                    break;
                case 1:
                    kind = "bit flips";
                    for (int k = 1 + rng.Next(4); k > 0; k--) bytes[rng.Next(bytes.Length)] ^= (byte)(1 << rng.Next(8));
                    break;
                case 2:
                    kind = "varint 0xFF run"; // turns a length prefix or varint into a huge or overlong value
                    int at = rng.Next(bytes.Length);
                    for (int k = 0; k < 5 && at + k < bytes.Length; k++) bytes[at + k] = 0xFF;
                    break;
                case 3:
                    kind = "random bytes";
                    int start = rng.Next(bytes.Length), len = Math.Min(bytes.Length - start, 1 + rng.Next(16));
                    rng.NextBytes(bytes.AsSpan(start, len));
                    break;
                default:
                    kind = "splice";
                    int from = rng.Next(bytes.Length), to = rng.Next(bytes.Length), n = Math.Min(bytes.Length - Math.Max(from, to), rng.Next(64));
                    if (n > 0) Array.Copy(original, from, bytes, to, n);
                    break;
            }
            ImportMustFailCleanly(bytes, $"{id} round {round} ({kind})");
        }
    }

    [SkippableTheory]
    [MemberData(nameof(SeedModels))]
    public void StructuralMutations(string id)
    {
        var original = Load(id);
        Skip.If(original is null, SharedData.MissingMessage);
        var rng = new Random(id.Length * 7919);
        for (int round = 0; round < 60; round++)
        {
            var m = ModelProto.Parser.ParseFrom(original);
            string kind = MutateStructure(m, rng, round);
            ImportMustFailCleanly(m.ToByteArray(), $"{id} round {round} ({kind})");
        }
    }

    private static string MutateStructure(ModelProto m, Random rng, int round)
    {
        var g = m.Graph;
        var tensors = g.Initializer.Concat(g.Node.SelectMany(n => n.Attribute).Where(a => a.T is not null).Select(a => a.T)).ToList();
        switch (round % 10)
        {
            case 0 when tensors.Count > 0:
                var t = tensors[rng.Next(tensors.Count)];
                t.Dims.Clear();
                t.Dims.Add(1L << 40);
                t.Dims.Add(1L << 30);
                return "huge declared dims";
            case 1 when tensors.Count > 0:
                var t2 = tensors[rng.Next(tensors.Count)];
                if (t2.Dims.Count > 0) t2.Dims[0] = -5;
                else t2.Dims.Add(-5);
                return "negative dim";
            case 2 when tensors.Count > 0:
                tensors[rng.Next(tensors.Count)].DataType = 99;
                return "unknown data type";
            case 3 when g.Node.Count > 0:
                g.Node[rng.Next(g.Node.Count)].Input.Add("no_such_value");
                return "undefined input";
            case 4 when g.Node.Count > 0:
                g.Node[rng.Next(g.Node.Count)].OpType = "NoSuchOp";
                return "unknown op";
            case 5 when g.Node.Count > 0:
                var node = g.Node[rng.Next(g.Node.Count)];
                node.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1L << 40 });
                node.Attribute.Add(new AttributeProto { Name = "perm", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 7, -9, 7 } });
                return "hostile attributes";
            case 6 when g.Node.Count > 1:
                g.Node.Add(g.Node[0].Clone()); // duplicate definition, or a node out of order
                return "duplicate node";
            case 7:
                m.OpsetImport.Clear();
                m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = rng.Next(-2, 3) });
                return "bad opset";
            case 8 when g.Input.Count > 0:
                var input = g.Input[rng.Next(g.Input.Count)];
                input.Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = rng.Next(0, 40), Shape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dimension { DimValue = -1 } } } } };
                return "bad input type";
            default:
                if (g.Output.Count > 0) g.Output[0].Name = "never_computed";
                return "dangling output";
        }
    }

    [Fact]
    public void EmptyAndGarbageFilesAreClearErrors()
    {
        Assert.Equal(ErrorCode.InvalidModel, Assert.Throws<KilnException>(() => OnnxImporter.Load(ReadOnlySpan<byte>.Empty)).Code);
        Assert.Equal(ErrorCode.InvalidModel, Assert.Throws<KilnException>(() => OnnxImporter.Load("garbage, not protobuf"u8)).Code);
        var noGraph = new ModelProto { IrVersion = 8 }.ToByteArray();
        Assert.Contains("no graph", Assert.Throws<KilnException>(() => OnnxImporter.Load(noGraph)).Message);
    }
}
