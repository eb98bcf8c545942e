using Google.Protobuf;
using Kiln.Ir;
using Kiln.Onnx.Proto;

namespace Kiln.Cli;

/// <summary>
/// The model that ships with the repository (examples/tiny-cnn): a small image classifier built
/// here, with deterministic pseudo-random weights, so Kiln's main job needs nothing downloaded.
/// 1x3x32x32 image → Conv 3x3 (16) + Relu → MaxPool 2x2 → Conv 3x3 (32) + HardSwish →
/// GlobalAveragePool → Flatten → Gemm (10) → Softmax.
/// </summary>
public static class ExampleModel
{
    public const string InputName = "image";
    public const string OutputName = "probabilities";

    public static byte[] Build()
    {
        var rng = new Lcg(7);
        var g = new GraphProto { Name = "tiny_cnn" };
        g.Input.Add(ValueInfo(InputName, 1, 3, 32, 32));
        g.Output.Add(ValueInfo(OutputName, 1, 10));
        g.Initializer.Add(Tensor("conv1.w", rng, 0.3f, 16, 3, 3, 3));
        g.Initializer.Add(Tensor("conv1.b", rng, 0.1f, 16));
        g.Initializer.Add(Tensor("conv2.w", rng, 0.1f, 32, 16, 3, 3));
        g.Initializer.Add(Tensor("conv2.b", rng, 0.1f, 32));
        g.Initializer.Add(Tensor("fc.w", rng, 0.3f, 10, 32));
        g.Initializer.Add(Tensor("fc.b", rng, 0.1f, 10));
        g.Node.Add(Node("Conv", [InputName, "conv1.w", "conv1.b"], "c1", Ints("pads", 1, 1, 1, 1)));
        g.Node.Add(Node("Relu", ["c1"], "r1"));
        g.Node.Add(Node("MaxPool", ["r1"], "p1", Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)));
        g.Node.Add(Node("Conv", ["p1", "conv2.w", "conv2.b"], "c2", Ints("pads", 1, 1, 1, 1)));
        g.Node.Add(Node("HardSwish", ["c2"], "h2"));
        g.Node.Add(Node("GlobalAveragePool", ["h2"], "gap"));
        g.Node.Add(Node("Flatten", ["gap"], "flat"));
        g.Node.Add(Node("Gemm", ["flat", "fc.w", "fc.b"], "logits", new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 }));
        g.Node.Add(Node("Softmax", ["logits"], OutputName));
        var model = new ModelProto { IrVersion = 8, ProducerName = "kiln", ProducerVersion = "example", Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return model.ToByteArray();
    }

    /// <summary>A deterministic input image with values in [0, 1).</summary>
    public static TensorData Input()
    {
        var rng = new Lcg(42);
        var data = new float[3 * 32 * 32];
        for (int i = 0; i < data.Length; i++) data[i] = rng.Next01();
        return TensorData.FromFloats([1, 3, 32, 32], data);
    }

    private static ValueInfoProto ValueInfo(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }

    private static TensorProto Tensor(string name, Lcg rng, float scale, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = 1 };
        t.Dims.AddRange(dims);
        long n = dims.Aggregate(1L, (a, b) => a * b);
        for (long i = 0; i < n; i++) t.FloatData.Add((rng.Next01() * 2 - 1) * scale);
        return t;
    }

    private static NodeProto Node(string op, string[] inputs, string output, params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = op, Name = output };
        n.Input.AddRange(inputs);
        n.Output.Add(output);
        n.Attribute.AddRange(attributes);
        return n;
    }

    private static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    /// <summary>The generator ../shared/models used for its inputs: s = 1664525·s + 1013904223 mod 2^32.</summary>
    private sealed class Lcg(uint seed)
    {
        private uint _s = seed;
        public float Next01() { _s = 1664525 * _s + 1013904223; return (_s >> 8) / 16777216f; }
    }
}
