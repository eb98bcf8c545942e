using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime;
using Kiln.Runtime.Kernels.Indexing;
using Kiln.Runtime.Kernels.Sampling;
using static Kiln.Tests.Kernels.KernelOracle;

namespace Kiln.Tests.Kernels;

/// <summary>
/// Results whose size depends on data (NonZero, Compress, Unique, NonMaxSuppression): one compiled
/// module, run on inputs that give different counts, matches the reference evaluator each time;
/// a declared size the data does not give fails the invocation; hostile descriptors are refused.
/// </summary>
public class CountedResultTests
{
    /// <summary>Compiles once, then runs every input set and compares with the reference.</summary>
    private static void Agrees(Func<Model> build, string configuration, string device, params TensorData[][] inputSets)
    {
        using var loaded = new KernelHarness.Loaded(build(), configuration, device);
        var reference = build();
        foreach (var inputs in inputSets)
        {
            var expected = new ReferenceEvaluator().Run(reference.Graph, inputs);
            var actual = loaded.Run(inputs);
            Assert.Equal(expected.Count, actual.Length);
            for (int i = 0; i < actual.Length; i++)
            {
                var e = (TensorData)expected[i];
                Assert.Equal(e.Shape, actual[i].Shape);
                Assert.True(e.BitwiseEquals(actual[i]), $"output {i} differs");
            }
        }
    }

    private static TensorData Floats(long[] shape, params float[] values) => TensorData.FromFloats(shape, values);

    public static TheoryData<string, string> Configurations() => new()
    {
        { "portable", "sync" }, { "portable", "task" }, { "il", "sync" }, { "il", "task" },
    };

    [Theory]
    [MemberData(nameof(Configurations))]
    public void NonZero_counts_differ_between_runs(string configuration, string device) =>
        Agrees(() => KernelHarness.Single("NonZero", [(ElementType.Float32, [2, 3])]), configuration, device,
            [Floats([2, 3], 0, 1, 0, 2, 0, 3)],
            [Floats([2, 3], 0, 0, 0, 0, 0, 0)],
            [Floats([2, 3], 1, float.NaN, -1, 4, 5, 6)],
            [Floats([2, 3], -0f, 0, 0, 0, 0, 7)]);

    [Fact]
    public void NonZero_of_integers_and_a_scalar()
    {
        Agrees(() => KernelHarness.Single("NonZero", [(ElementType.Int64, [2, 2, 2])]), "portable", "sync",
            [TensorData.FromInt64s([2, 2, 2], [0, 5, 0, 0, long.MinValue, 0, 1, 0])]);
        Agrees(() => KernelHarness.Single("NonZero", [(ElementType.Float32, [])]), "portable", "sync",
            [Floats([], 3)], [Floats([], 0)]);
    }

    [Fact]
    public void NonZero_with_a_declared_count_the_data_does_not_give_fails()
    {
        var o = new KernelOracle();
        o.Op("NonZero", [o.Input(Floats([2, 2], 1, 0, 2, 3))], declared: [new TensorType(ElementType.Int64, Shape.Of(2, 2))]);
        o.CheckFails("NonZero");
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Compress_along_an_axis_and_flattened(string configuration, string device)
    {
        Model Build(long? axis)
        {
            var attributes = axis is { } a ? new Dictionary<string, AttributeValue> { ["axis"] = AttributeValue.Int(a) } : null;
            return KernelHarness.Single("Compress", [(ElementType.Float32, [3, 2]), (ElementType.Bool, [3])], attributes);
        }
        var x = Floats([3, 2], 1, 2, 3, 4, 5, 6);
        TensorData Condition(params bool[] c) => new(ElementType.Bool, [c.Length], c);
        Agrees(() => Build(0), configuration, device, [x, Condition(true, false, true)], [x, Condition(false, false, false)], [x, Condition(true, true, true)]);
        Agrees(() => Build(null), configuration, device, [x, Condition(false, true, true)], [x, Condition(true, false, false)]);
    }

    [Fact]
    public void Compress_selecting_beyond_the_axis_fails()
    {
        var o = new KernelOracle();
        var c = new TensorData(ElementType.Bool, [3], new[] { true, false, true });
        o.Op("Compress", [o.Input(Floats([2, 2], 1, 2, 3, 4)), o.Input(c)], [Int("axis", 0)]);
        o.CheckFails("gather");
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Unique_sorted_and_in_order_of_appearance(string configuration, string device)
    {
        foreach (long sorted in new long[] { 0, 1 })
        {
            Agrees(() => KernelHarness.Single("Unique", [(ElementType.Float32, [6])],
                    new Dictionary<string, AttributeValue> { ["sorted"] = AttributeValue.Int(sorted) }, results: 4), configuration, device,
                [Floats([6], 2, 1, 1, 3, 4, 3)], [Floats([6], 5, 5, 5, 5, 5, 5)], [Floats([6], 6, float.NaN, 4, 3, float.NaN, 1)]);
            Agrees(() => KernelHarness.Single("Unique", [(ElementType.Int32, [2, 3, 2])],
                    new Dictionary<string, AttributeValue> { ["sorted"] = AttributeValue.Int(sorted), ["axis"] = AttributeValue.Int(1) }, results: 4), configuration, device,
                [new TensorData(ElementType.Int32, [2, 3, 2], new[] { 1, 2, 0, 0, 1, 2, 3, 4, 0, 0, 3, 4 })],
                [new TensorData(ElementType.Int32, [2, 3, 2], new[] { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2 })]);
        }
    }

    private static Model Nms(long centerPointBox)
    {
        var g = new Graph("main");
        var boxes = g.AddInput("boxes", new TensorType(ElementType.Float32, Shape.Of(1, 5, 4)));
        var scores = g.AddInput("scores", new TensorType(ElementType.Float32, Shape.Of(1, 2, 5)));
        var max = g.AddInput("max", new TensorType(ElementType.Int64, Shape.Of(1)));
        var iou = g.AddInput("iou", new TensorType(ElementType.Float32, Shape.Of(1)));
        var score = g.AddInput("score", new TensorType(ElementType.Float32, Shape.Of(1)));
        var op = g.AddOperation("NonMaxSuppression", [boxes, scores, max, iou, score], ["selected"],
            new Dictionary<string, AttributeValue> { ["center_point_box"] = AttributeValue.Int(centerPointBox) });
        g.AddOutput(op.Output(0));
        return KernelHarness.Typed(g);
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void NonMaxSuppression_selections_differ_between_runs(string configuration, string device)
    {
        var boxes = Floats([1, 5, 4], 0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 0, 10, 1, 11, 1, 1, 0, 0, 5, 5, 6, 6);
        var scores = Floats([1, 2, 5], 0.9f, 0.75f, 0.6f, 0.95f, 0.5f, 0.1f, 0.2f, 0.3f, 0.2f, 0.9f);
        TensorData Max(long m) => TensorData.Vector(m);
        TensorData Scalar(float v) => Floats([1], v);
        foreach (long centered in new long[] { 0, 1 })
            Agrees(() => Nms(centered), configuration, device,
                [boxes, scores, Max(3), Scalar(0.5f), Scalar(0f)],
                [boxes, scores, Max(1), Scalar(0.5f), Scalar(0.4f)],
                [boxes, scores, Max(0), Scalar(0.5f), Scalar(0f)],
                [boxes, scores, Max(10), Scalar(1f), Scalar(0.95f)]);
    }

    [Fact]
    public void NonMaxSuppression_refuses_an_iou_threshold_out_of_range()
    {
        using var loaded = new KernelHarness.Loaded(Nms(0), "portable");
        var e = Assert.Throws<KilnRuntimeException>(() => loaded.Run([new TensorData(ElementType.Float32, [1, 5, 4], new float[20]),
            new TensorData(ElementType.Float32, [1, 2, 5], new float[10]), TensorData.Vector(1), Floats([1], 1.5f), Floats([1], 0)]));
        Assert.Contains("iou_threshold", e.Message);
    }

    [Fact]
    public void Hostile_descriptors_are_refused()
    {
        Assert.Throws<KilnRuntimeException>(() => NonZeroKernel.Load(NonZeroKernel.Encode(DType.Float32, 0), 3, 1));
        Assert.Throws<KilnRuntimeException>(() => NonZeroKernel.Load(NonZeroKernel.Encode(DType.Float32, 2), 3, 2));
        Assert.Throws<KilnRuntimeException>(() => UniqueKernel.Load([1, (byte)DType.Float32, 2], 6, 3));
        Assert.Throws<KilnRuntimeException>(() => NonMaxSuppressionKernel.Load(NonMaxSuppressionKernel.Encode(DType.Int32, DType.Float32, DType.Float32, false, false), 7, 3));
        Assert.Throws<KilnRuntimeException>(() => NonMaxSuppressionKernel.Load(NonMaxSuppressionKernel.Encode(DType.Float32, DType.Float32, DType.Float32, false, false), 6, 3));
    }
}
