using Kiln.Ir;
using Kiln.Ops;

namespace Kiln.Tests.Ops;

/// <summary>
/// The attention, newest and signal-processing operators beyond the conformance suite: symbolic
/// shape inference, errors that name the node, and small results checked by hand.
/// </summary>
public class AttentionFamilyTests
{
    /// <summary>A graph of one operation whose inputs have the given types; its results are the graph's outputs.</summary>
    private static Graph SingleOp(string opType, IrType?[] inputTypes, int outputs = 1,
        Dictionary<string, AttributeValue>? attributes = null, string domain = "")
    {
        var g = new Graph();
        var inputs = inputTypes.Select((t, i) => t is null ? null : g.AddInput($"x{i}", t)).ToArray();
        var op = g.AddOperation(opType, inputs, Enumerable.Range(0, outputs).Select(i => (string?)$"y{i}"), attributes, domain, name: "n");
        foreach (var r in op.Outputs) g.AddOutput(r!);
        return g;
    }

    private static IReadOnlyList<DataValue> Run(Graph g, params TensorData?[] inputs)
    {
        ShapeInference.Run(g);
        return new ReferenceEvaluator().Run(g, inputs.Where(t => t is not null).Cast<DataValue>().ToList());
    }

    private static TensorType F32(params Dim[] dims) => new(ElementType.Float32, Shape.Of(dims));
    private static TensorData Floats(long[] shape, params float[] values) => TensorData.FromFloats(shape, values);
    private static void AssertClose(float[] expected, TensorData actual)
    {
        var values = actual.Data<float>();
        Assert.Equal(expected.Length, values.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - values[i]) <= 1e-5, $"element {i}: expected {expected[i]}, got {values[i]}");
    }

    private static Dictionary<string, AttributeValue> Ints(params (string Name, long Value)[] a) =>
        a.ToDictionary(x => x.Name, x => AttributeValue.Int(x.Value));

    [Fact]
    public void AttentionInfersSymbolicPackedShapesWithCache()
    {
        Dim n = Dim.Symbol("N"), s = Dim.Symbol("S"), t = Dim.Symbol("T"), p = Dim.Symbol("P");
        var g = SingleOp("Attention", [F32(n, s, 24), F32(n, t, 24), F32(n, t, 30), null, F32(n, 3, p, 8), F32(n, 3, p, 10)],
            outputs: 4, attributes: Ints(("q_num_heads", 3), ("kv_num_heads", 3)));
        ShapeInference.Run(g);
        Assert.Equal("f32[N,S,30]", g.Outputs[0].Type.ToString());
        Assert.Equal(F32(n, 3, p + t, 8), g.Outputs[1].Type);
        Assert.Equal(F32(n, 3, p + t, 10), g.Outputs[2].Type);
        Assert.Equal(F32(n, 3, s, p + t), g.Outputs[3].Type);
    }

    [Fact]
    public void AttentionRejectsMismatchedHeadSizesNamingTheNode()
    {
        var g = SingleOp("Attention", [F32(1, 2, 4, 8), F32(1, 2, 4, 6), F32(1, 2, 4, 8)]);
        var e = Assert.Throws<KilnException>(() => ShapeInference.Run(g));
        Assert.Contains("Attention node 'n'", e.Message);
        Assert.Contains("K head size", e.Message);
    }

    [Fact]
    public void AttentionCausalWeightsAndFullyMaskedRows()
    {
        // One head, two queries, two keys with equal scores: the first query sees only key 0,
        // the second both (weights 1/2 each). A mask that hides every key gives zeros, not NaN.
        var g = SingleOp("Attention", [F32(1, 1, 2, 1), F32(1, 1, 2, 1), F32(1, 1, 2, 1)], attributes: Ints(("is_causal", 1)));
        var y = (TensorData)Run(g, Floats([1, 1, 2, 1], 0, 0), Floats([1, 1, 2, 1], 0, 0), Floats([1, 1, 2, 1], 2, 4))[0];
        AssertClose([2f, 3f], y);

        var masked = SingleOp("Attention", [F32(1, 1, 2, 1), F32(1, 1, 2, 1), F32(1, 1, 2, 1), new TensorType(ElementType.Bool, 2, 2)]);
        var mask = TensorData.Create(ElementType.Bool, [2, 2], new[] { false, false, true, false });
        var z = (TensorData)Run(masked, Floats([1, 1, 2, 1], 0, 0), Floats([1, 1, 2, 1], 0, 0), Floats([1, 1, 2, 1], 2, 4), mask)[0];
        AssertClose([0f, 2f], z);
    }

    [Fact]
    public void AttentionRejectsOutOfRangeValidKeyCounts()
    {
        var g = SingleOp("Attention", [F32(1, 1, 1, 2), F32(1, 1, 3, 2), F32(1, 1, 3, 2), null, null, null, new TensorType(ElementType.Int64, 1)]);
        var e = Assert.Throws<KilnException>(() => Run(g, Floats([1, 1, 1, 2], 1, 1), Floats([1, 1, 3, 2], new float[6]),
            Floats([1, 1, 3, 2], new float[6]), TensorData.Vector(4)));
        Assert.Contains("nonpad_kv_seqlen value 4", e.Message);
    }

    [Fact]
    public void RotaryEmbeddingRejectsPositionsOutsideTheCache()
    {
        var g = SingleOp("RotaryEmbedding", [F32(1, 1, 1, 2), F32(4, 1), F32(4, 1), new TensorType(ElementType.Int64, 1, 1)]);
        var e = Assert.Throws<KilnException>(() => Run(g, Floats([1, 1, 1, 2], 1, 2), Floats([4, 1], new float[4]),
            Floats([4, 1], new float[4]), TensorData.FromInt64s([1, 1], [4])));
        Assert.Contains("RotaryEmbedding node 'n'", e.Message);
        Assert.Contains("position id 4", e.Message);
    }

    [Fact]
    public void TensorScatterWrapsInCircularModeAndRefusesOverflowInLinearMode()
    {
        var attrs = new Dictionary<string, AttributeValue> { ["mode"] = AttributeValue.String("circular"), ["axis"] = AttributeValue.Int(1) };
        var g = SingleOp("TensorScatter", [F32(1, 3), F32(1, 2), new TensorType(ElementType.Int64, 1)], attributes: attrs);
        var y = (TensorData)Run(g, Floats([1, 3], 0, 0, 0), Floats([1, 2], 7, 8), TensorData.Vector(2))[0];
        AssertClose([8f, 0f, 7f], y);

        var linear = SingleOp("TensorScatter", [F32(1, 3), F32(1, 2), new TensorType(ElementType.Int64, 1)], attributes: Ints(("axis", 1)));
        var e = Assert.Throws<KilnException>(() => Run(linear, Floats([1, 3], 0, 0, 0), Floats([1, 2], 7, 8), TensorData.Vector(2)));
        Assert.Contains("write index 2", e.Message);
    }

    [Fact]
    public void DftRoundTripsAndInfersOnesidedShapes()
    {
        var forward = SingleOp("DFT", [F32(1, 4, 1)]);
        var spectrum = (TensorData)Run(forward, Floats([1, 4, 1], 1, 2, 3, 4))[0];
        AssertClose([10f, 0f, -2f, 2f, -2f, 0f, -2f, -2f], spectrum);

        var inverse = SingleOp("DFT", [F32(1, 4, 2)], attributes: Ints(("inverse", 1)));
        var signal = (TensorData)Run(inverse, spectrum)[0];
        AssertClose([1f, 0f, 2f, 0f, 3f, 0f, 4f, 0f], signal);

        Dim n = Dim.Symbol("N"), l = Dim.Symbol("L");
        var symbolic = SingleOp("DFT", [F32(n, l, 1)], attributes: Ints(("onesided", 1)));
        ShapeInference.Run(symbolic);
        Assert.Equal(F32(n, l / 2 + 1, 2), symbolic.Outputs[0].Type);
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(7, 0)]
    [InlineData(12, 1)]
    [InlineData(100, 0)]
    [InlineData(128, 1)]
    public void DftMatchesTheDefinitionForPowerOfTwoAndOtherLengths(int n, int inverse)
    {
        var random = new Random(n);
        var x = Enumerable.Range(0, 2 * n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var g = SingleOp("DFT", [F32(1, n, 2)], attributes: Ints(("inverse", inverse)));
        var y = (TensorData)Run(g, Floats([1, n, 2], x))[0];
        var expected = new float[2 * n];
        double sign = inverse == 1 ? 1 : -1, norm = inverse == 1 ? 1.0 / n : 1;
        for (int k = 0; k < n; k++)
        {
            double re = 0, im = 0;
            for (int t = 0; t < n; t++)
            {
                double angle = sign * 2 * Math.PI * ((long)k * t % n) / n;
                re += x[2 * t] * Math.Cos(angle) - x[2 * t + 1] * Math.Sin(angle);
                im += x[2 * t] * Math.Sin(angle) + x[2 * t + 1] * Math.Cos(angle);
            }
            (expected[2 * k], expected[2 * k + 1]) = ((float)(re * norm), (float)(im * norm));
        }
        AssertClose(expected, y);
    }

    [Fact]
    public void DftRejectsTheReImAxis()
    {
        var g = SingleOp("DFT", [F32(1, 4, 1), null, new TensorType(ElementType.Int64)]);
        var e = Assert.Throws<KilnException>(() => Run(g, Floats([1, 4, 1], 1, 2, 3, 4), TensorData.Scalar(ElementType.Int64, -1L)));
        Assert.Contains("axis -1", e.Message);
    }

    [Fact]
    public void LinearAttentionNeedsDecayForGatedRules()
    {
        var attrs = Ints(("q_num_heads", 1), ("kv_num_heads", 1));
        attrs["update_rule"] = AttributeValue.String("gated");
        var g = SingleOp("LinearAttention", [F32(1, 1, 2), F32(1, 1, 2), F32(1, 1, 2)], outputs: 2, attributes: attrs);
        var e = Assert.Throws<KilnException>(() => ShapeInference.Run(g));
        Assert.Contains("needs the decay input", e.Message);
    }

    [Fact]
    public void WindowShapesFollowTheSizeInput()
    {
        var g = SingleOp("HannWindow", [new TensorType(ElementType.Int64)]);
        var y = (TensorData)Run(g, TensorData.Scalar(ElementType.Int64, 4L))[0];
        Assert.Equal(new[] { 4L }, y.Shape);
        AssertClose([0f, 0.5f, 1f, 0.5f], y);
    }
}
