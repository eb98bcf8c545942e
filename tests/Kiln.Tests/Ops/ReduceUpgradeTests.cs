using Kiln.Ir;
using Kiln.Onnx;
using Kiln.Ops;
using Kiln.Onnx.Proto;

namespace Kiln.Tests.Ops;

/// <summary>
/// Old operator forms imported through their upgrades give the old semantics: Softmax's
/// coercion to 2-D, BatchNormalization's spatial=0, GroupNormalization's per-group scale, and
/// axes attributes.
/// </summary>
public class ReduceUpgradeTests
{
    private static IReadOnlyList<DataValue> RunOld(int opset, NodeProto node, params TensorData[] inputs)
    {
        var graph = new GraphProto { Name = "old" };
        graph.Node.Add(node);
        for (int i = 0; i < inputs.Length; i++)
            graph.Input.Add(Float32Info(node.Input[i], inputs[i].Shape));
        foreach (var output in node.Output) graph.Output.Add(new ValueInfoProto { Name = output });
        var proto = new ModelProto { IrVersion = 7, Graph = graph };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        var model = OnnxImporter.Import(proto);
        return new ReferenceEvaluator().Run(model.Graph, inputs);
    }

    private static ValueInfoProto Float32Info(string name, long[] shape)
    {
        var tensorShape = new TensorShapeProto();
        foreach (long d in shape) tensorShape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = tensorShape } } };
    }

    private static NodeProto Node(string opType, string[] inputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType };
        node.Input.AddRange(inputs);
        node.Output.Add("y");
        node.Attribute.AddRange(attributes);
        return node;
    }

    private static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };
    private static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    private static float[] Result(IReadOnlyList<DataValue> outputs) => ((TensorData)outputs[0]).Data<float>();

    [Fact]
    public void OldSoftmaxWorksOverEveryAxisFromItsAxisOn()
    {
        Skip.If(!OpRegistry.Default.TryGet("", "Flatten", out _), "Flatten (tensor operators) is not in this build");
        var x = TensorData.FromFloats([2, 2, 2], [0, 1, 2, 3, 0, 0, 0, 0]);
        var y = Result(RunOld(11, Node("Softmax", ["x"]), x));
        double total = Enumerable.Range(0, 4).Sum(i => Math.Exp(i));
        for (int i = 0; i < 4; i++) Assert.Equal(Math.Exp(i) / total, y[i], 5);
        for (int i = 4; i < 8; i++) Assert.Equal(0.25, y[i], 5);
    }

    [Fact]
    public void OldBatchNormalizationWithoutSpatialUsesPerActivationStatistics()
    {
        var x = TensorData.FromFloats([2, 2, 1], [1, 2, 3, 4]);
        var scale = TensorData.FromFloats([2, 1], [2, 3]);
        var bias = TensorData.FromFloats([2, 1], [1, -1]);
        var mean = TensorData.FromFloats([2, 1], [1, 1]);
        var variance = TensorData.FromFloats([2, 1], [4, 1]);
        var node = Node("BatchNormalization", ["x", "s", "b", "m", "v"], Int("spatial", 0), Int("is_test", 1),
            new AttributeProto { Name = "epsilon", Type = AttributeProto.Types.AttributeType.Float, F = 0 });
        var y = Result(RunOld(6, node, x, scale, bias, mean, variance));
        Assert.Equal(new[] { 1f, 2, 3, 8 }, y);
    }

    [Fact]
    public void OpsetEighteenGroupNormalizationScalesPerGroup()
    {
        var x = TensorData.FromFloats([1, 4, 1], [1, 3, 10, 20]);
        var scale = TensorData.FromFloats([2], [2, 3]);
        var bias = TensorData.FromFloats([2], [0.5f, -1]);
        var node = Node("GroupNormalization", ["x", "s", "b"], Int("num_groups", 2),
            new AttributeProto { Name = "epsilon", Type = AttributeProto.Types.AttributeType.Float, F = 0 });
        var y = Result(RunOld(18, node, x, scale, bias));
        Assert.Equal(new[] { -1.5f, 2.5f, -4f, 2f }, y);
    }

    [Fact]
    public void OldReductionsTakeAxesFromTheAttribute()
    {
        var x = TensorData.FromFloats([2, 2], [1, 2, 3, 4]);
        var y = RunOld(13, Node("ReduceMax", ["x"], Ints("axes", 1), Int("keepdims", 0)), x);
        Assert.Equal(new[] { 2f, 4 }, Result(y));
        Assert.Equal([2L], ((TensorData)y[0]).Shape);
    }
}
