using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime;
using Kiln.Runtime.Kernels.Reduction;

namespace Kiln.Tests.Kernels;

/// <summary>
/// The "treeensemble" kernel against the reference: every node mode (set membership, NaN going the
/// true way), two trees over three targets, each aggregate function and post transform, float32
/// and float64; forest tables that name what does not exist are refused.
/// </summary>
public class TreeEnsembleTests
{
    private static Model Forest(ElementType type, long aggregate, long transform, long rows)
    {
        var g = new Graph("main");
        var x = g.AddInput("x", new TensorType(type, Shape.Of(rows, 3)));
        TensorData Values(params double[] v) => type == ElementType.Float64
            ? TensorData.Create(ElementType.Float64, [v.Length], v)
            : TensorData.FromFloats([v.Length], v.Select(d => (float)d).ToArray());
        // Tree 0: node 0 (x0 <= 0.5) -> node 1 (x1 in {1, 2, -1}, NaN true) or node 2 (x2 > -0.25);
        // node 2 false -> node 4 (x0 == 2). Tree 1: node 3 (x1 != 0), node 5 (x2 < 1), node 6 (x0 >= -1).
        var attributes = new Dictionary<string, AttributeValue>
        {
            ["nodes_modes"] = AttributeValue.Tensor(TensorData.Create(ElementType.UInt8, [7], new byte[] { 0, 6, 3, 5, 4, 1, 2 })),
            ["nodes_featureids"] = AttributeValue.Ints([0, 1, 2, 1, 0, 2, 0]),
            ["nodes_splits"] = AttributeValue.Tensor(Values(0.5, double.NaN, -0.25, 0, 2, 1, -1)),
            ["nodes_truenodeids"] = AttributeValue.Ints([1, 0, 2, 5, 3, 4, 5]),
            ["nodes_trueleafs"] = AttributeValue.Ints([0, 1, 1, 0, 1, 1, 1]),
            ["nodes_falsenodeids"] = AttributeValue.Ints([2, 1, 4, 6, 0, 6, 2]),
            ["nodes_falseleafs"] = AttributeValue.Ints([0, 1, 0, 0, 1, 0, 1]),
            ["nodes_missing_value_tracks_true"] = AttributeValue.Ints([0, 1, 0, 1, 0, 0, 1]),
            ["membership_values"] = AttributeValue.Tensor(Values(1, 2, -1, double.NaN)),
            ["tree_roots"] = AttributeValue.Ints([0, 3]),
            ["leaf_targetids"] = AttributeValue.Ints([0, 1, 2, 0, 1, 2, 0]),
            ["leaf_weights"] = AttributeValue.Tensor(Values(0.5, -1.25, 2, 0.75, 0.125, -0.5, 1.5)),
            ["n_targets"] = AttributeValue.Int(3),
            ["aggregate_function"] = AttributeValue.Int(aggregate),
            ["post_transform"] = AttributeValue.Int(transform),
        };
        var op = g.AddOperation("TreeEnsemble", [x], ["y"], attributes, domain: "ai.onnx.ml");
        g.AddOutput(op.Output(0));
        var model = new Model(g);
        model.OpsetImports[""] = 21;
        model.OpsetImports["ai.onnx.ml"] = 5;
        ShapeInference.Run(g);
        return model;
    }

    private static readonly double[] Samples = [-2, -1, 0, 0.5, 1, 2, double.NaN, 0.25, -0.25, 3];

    private static TensorData Input(ElementType type, long rows)
    {
        var values = Enumerable.Range(0, (int)rows * 3).Select(i => Samples[(i * 7 + i / 3) % Samples.Length]).ToArray();
        return type == ElementType.Float64 ? TensorData.Create(type, [rows, 3], values) : TensorData.FromFloats([rows, 3], values.Select(v => (float)v).ToArray());
    }

    [Theory]
    [InlineData(ElementType.Float32, 0, 0)]
    [InlineData(ElementType.Float32, 1, 1)]
    [InlineData(ElementType.Float32, 2, 2)]
    [InlineData(ElementType.Float32, 3, 3)]
    [InlineData(ElementType.Float64, 1, 4)]
    [InlineData(ElementType.Float64, 0, 2)]
    public void Matches_the_reference(ElementType type, long aggregate, long transform)
    {
        const long rows = 130;
        var x = Input(type, rows);
        var expected = (TensorData)new ReferenceEvaluator().Run(Forest(type, aggregate, transform, rows).Graph, [x])[0];
        foreach (var device in new[] { "sync", "task" })
        {
            using var loaded = new KernelHarness.Loaded(Forest(type, aggregate, transform, rows), "portable", device);
            var diff = Kiln.Conformance.Comparison.CompareTensors("y", expected, loaded.Run([x])[0], 1e-6, 1e-7);
            Assert.True(diff is null, diff);
        }
    }

    [Fact]
    public void Hostile_descriptors_are_refused()
    {
        var sizes = new TreeEnsembleKernel.Sizes(3, 4, 1, 0, 2);
        Assert.NotNull(TreeEnsembleKernel.Load(TreeEnsembleKernel.Encode(DType.Float32, 1, 0, sizes), 4, 2));
        Assert.Throws<KilnRuntimeException>(() => TreeEnsembleKernel.Load(TreeEnsembleKernel.Encode(DType.Float32, 4, 0, sizes), 4, 2));
        Assert.Throws<KilnRuntimeException>(() => TreeEnsembleKernel.Load(TreeEnsembleKernel.Encode(DType.Float32, 1, 5, sizes), 4, 2));
        Assert.Throws<KilnRuntimeException>(() => TreeEnsembleKernel.Load(TreeEnsembleKernel.Encode(DType.Float32, 1, 0, sizes with { Nodes = -1 }), 4, 2));
        Assert.Throws<KilnRuntimeException>(() => TreeEnsembleKernel.Load(TreeEnsembleKernel.Encode(DType.Int64, 1, 0, sizes), 4, 2));
    }
}
