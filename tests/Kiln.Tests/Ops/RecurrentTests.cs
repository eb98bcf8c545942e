using Kiln.Ir;
using Kiln.Ops;

namespace Kiln.Tests.Ops;

/// <summary>
/// RNN, GRU and LSTM beyond the conformance suite: sequences shorter than the padded input (each
/// direction stopping at its own end), the bidirectional result layout in both layouts, symbolic
/// shape inference, the float64 and float16 paths, and bad operands failing with the node's name.
/// </summary>
public class RecurrentTests
{
    private static Graph SingleOp(string opType, IrType?[] inputTypes, int outputs, Dictionary<string, AttributeValue> attributes)
    {
        var g = new Graph();
        var inputs = inputTypes.Select((t, i) => t is null ? null : g.AddInput($"x{i}", t)).ToArray();
        var op = g.AddOperation(opType, inputs, Enumerable.Range(0, outputs).Select(i => (string?)$"y{i}"), attributes, name: "n");
        foreach (var r in op.Outputs) g.AddOutput(r!);
        return g;
    }

    /// <summary>Infers and runs a single-operation graph on the present inputs (null marks an absent optional operand).</summary>
    private static TensorData[] Run(string opType, int outputs, Dictionary<string, AttributeValue> attributes, params TensorData?[] inputs)
    {
        var g = SingleOp(opType, inputs.Select(t => (IrType?)t?.Type).ToArray(), outputs, attributes);
        ShapeInference.Run(g);
        var results = new ReferenceEvaluator().Run(g, inputs.Where(t => t is not null).Cast<DataValue>().ToList()).Cast<TensorData>().ToArray();
        // The inferred types must describe the values exactly.
        for (int i = 0; i < results.Length; i++) Assert.Equal(g.Outputs[i].Type, results[i].Type);
        return results;
    }

    private static TensorType F32(params Dim[] dims) => new(ElementType.Float32, Shape.Of(dims));
    private static TensorData Floats(long[] shape, params float[] values) => TensorData.FromFloats(shape, values);

    private static Dictionary<string, AttributeValue> Attributes(params (string Name, AttributeValue Value)[] a) =>
        a.ToDictionary(x => x.Name, x => x.Value);

    private static void AssertClose(double[] expected, TensorData actual, double tolerance = 1e-5)
    {
        Assert.Equal(expected.Length, actual.ElementCount);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual.GetDouble(i)) <= tolerance, $"element {i}: expected {expected[i]}, got {actual.GetDouble(i)}");
    }

    /// <summary>
    /// A bidirectional RNN whose cell adds: W = R = 1, Affine(x) = x, so h_t = x_t + h_t-1 and every
    /// result is a running sum of the input, easy to check by hand. Batch 0 holds 1 2 3 4 (length 4),
    /// batch 1 holds 10 20 30 40 but has length 2; initial_h is 100, 200 forward and 1000, 2000 backward.
    /// </summary>
    private static TensorData[] RunningSums(bool batchMajor)
    {
        var attributes = Attributes(("hidden_size", AttributeValue.Int(1)), ("direction", AttributeValue.String("bidirectional")),
            ("activations", AttributeValue.Strings("Affine", "Affine")), ("layout", AttributeValue.Int(batchMajor ? 1 : 0)));
        var ones = Floats([2, 1, 1], 1, 1);
        var x = batchMajor ? Floats([2, 4, 1], 1, 2, 3, 4, 10, 20, 30, 40) : Floats([4, 2, 1], 1, 10, 2, 20, 3, 30, 4, 40);
        var initialH = batchMajor ? Floats([2, 2, 1], 100, 1000, 200, 2000) : Floats([2, 2, 1], 100, 200, 1000, 2000);
        var lengths = new TensorData(ElementType.Int32, [2], new[] { 4, 2 });
        return Run("RNN", 2, attributes, x, ones, ones, null, lengths, initialH);
    }

    [Fact]
    public void ShortSequencesStopEachDirectionAtTheirOwnEnd()
    {
        var results = RunningSums(batchMajor: false);
        // Y [seq, num_directions, batch, hidden]. Forward sums run from t = 0; backward ones from each
        // sequence's own last step (t = 1 for batch 1, not the padding at t = 3). Y is 0 past a sequence's end.
        Assert.Equal(new long[] { 4, 2, 2, 1 }, results[0].Shape);
        AssertClose([
            101, 210, 1010, 2030, // t = 0: forward b0 b1, backward b0 b1
            103, 230, 1009, 2020, // t = 1
            106, 0, 1007, 0,      // t = 2
            110, 0, 1004, 0,      // t = 3
        ], results[0]);
        // Y_h [num_directions, batch, hidden]: forward ends at each sequence's last step, backward at t = 0.
        Assert.Equal(new long[] { 2, 2, 1 }, results[1].Shape);
        AssertClose([110, 230, 1010, 2030], results[1]);
    }

    [Fact]
    public void BatchMajorLayoutPutsTheBatchFirst()
    {
        var results = RunningSums(batchMajor: true);
        // Y [batch, seq, num_directions, hidden] and Y_h [batch, num_directions, hidden]: the values above, transposed.
        Assert.Equal(new long[] { 2, 4, 2, 1 }, results[0].Shape);
        AssertClose([101, 1010, 103, 1009, 106, 1007, 110, 1004, 210, 2030, 230, 2020, 0, 0, 0, 0], results[0]);
        Assert.Equal(new long[] { 2, 2, 1 }, results[1].Shape);
        AssertClose([110, 1010, 230, 2030], results[1]);
    }

    [Fact]
    public void AnEmptySequenceEndsWithZeroStates()
    {
        // Length 0 runs no step: Y is all zeros and so are Y_h and Y_c (not initial_h / initial_c), as ONNX Runtime gives.
        var r = new Random(5);
        TensorData Random(params long[] shape) => Floats(shape, Enumerable.Range(0, (int)TensorData.CheckedCount(shape)).Select(_ => (float)r.NextDouble()).ToArray());
        var results = Run("LSTM", 3, Attributes(("hidden_size", AttributeValue.Int(2))),
            Random(3, 2, 1), Random(1, 8, 1), Random(1, 8, 2), null, new TensorData(ElementType.Int32, [2], new[] { 0, 3 }),
            Random(1, 2, 2), Random(1, 2, 2));
        var y = results[0].Data<float>();
        for (int t = 0; t < 3; t++) Assert.Equal(new[] { 0f, 0f }, y.Skip(t * 4).Take(2));
        Assert.Equal(new[] { 0f, 0f }, results[1].Data<float>().Take(2));
        Assert.Equal(new[] { 0f, 0f }, results[2].Data<float>().Take(2));
        Assert.All(results[1].Data<float>().Skip(2), v => Assert.NotEqual(0f, v));
    }

    [Theory]
    [InlineData(ElementType.Float64, 1e-5)]
    [InlineData(ElementType.Float16, 2e-2)]
    public void OtherFloatTypesAgreeWithFloat32(ElementType type, double tolerance)
    {
        var r = new Random(11);
        TensorData Random(params long[] shape) => Floats(shape, Enumerable.Range(0, (int)TensorData.CheckedCount(shape)).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray());
        var operands = new TensorData?[] { Random(4, 3, 5), Random(2, 12, 5), Random(2, 12, 4), Random(2, 24), null, Random(2, 3, 4) };
        var attributes = Attributes(("hidden_size", AttributeValue.Int(4)), ("direction", AttributeValue.String("bidirectional")),
            ("linear_before_reset", AttributeValue.Int(1)), ("clip", AttributeValue.Float(0.8f)));
        var expected = Run("GRU", 2, attributes, operands);
        var actual = Run("GRU", 2, attributes, operands.Select(t => t is null ? null : Conversions.Convert(t, type)).ToArray());
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(type, actual[i].ElementType);
            AssertClose(Enumerable.Range(0, (int)expected[i].ElementCount).Select(j => expected[i].GetDouble(j)).ToArray(), actual[i], tolerance);
        }
    }

    [Fact]
    public void InfersSymbolicShapesInBothLayouts()
    {
        Dim s = Dim.Symbol("S"), n = Dim.Symbol("N");
        var bidirectional = ("direction", AttributeValue.String("bidirectional"));

        // hidden_size absent: it comes from R.
        var g = SingleOp("GRU", [F32(s, n, 4), F32(2, 15, 4), F32(2, 15, 5)], 2, Attributes(bidirectional));
        ShapeInference.Run(g);
        Assert.Equal(F32(s, 2, n, 5), g.Outputs[0].Type);
        Assert.Equal(F32(2, n, 5), g.Outputs[1].Type);

        // Batch-major; the batch size is known from initial_h although X's is symbolic.
        g = SingleOp("LSTM", [F32(n, s, 4), F32(2, 12, 4), F32(2, 12, 3), null, null, F32(7, 2, 3)], 3,
            Attributes(bidirectional, ("layout", AttributeValue.Int(1)), ("hidden_size", AttributeValue.Int(3))));
        ShapeInference.Run(g);
        Assert.Equal(F32(7, s, 2, 3), g.Outputs[0].Type);
        Assert.Equal(F32(7, 2, 3), g.Outputs[1].Type);
        Assert.Equal(F32(7, 2, 3), g.Outputs[2].Type);
    }

    [Theory]
    [InlineData("W", 10)]   // 3 gates x hidden 3 is 9
    [InlineData("initial_h", 4)]
    public void InferenceRejectsMismatchedShapesNamingTheNode(string operand, long size)
    {
        var w = operand == "W" ? F32(1, size, 4) : F32(1, 9, 4);
        var h0 = operand == "initial_h" ? F32(1, 2, size) : F32(1, 2, 3);
        var g = SingleOp("GRU", [F32(5, 2, 4), w, F32(1, 9, 3), null, null, h0], 2, Attributes(("hidden_size", AttributeValue.Int(3))));
        var e = Assert.Throws<KilnException>(() => ShapeInference.Run(g));
        Assert.Contains("GRU node 'n'", e.Message);
        Assert.Contains(operand, e.Message);
    }

    [Fact]
    public void EvaluationRejectsBadOperandsNamingTheNode()
    {
        var attributes = Attributes(("hidden_size", AttributeValue.Int(2)));
        TensorData Zeros(params long[] shape) => TensorData.Zeros(ElementType.Float32, shape);
        void Fails(string expected, params TensorData?[] inputs)
        {
            // Inputs declared with unknown sizes, so that only evaluation can see the problem.
            var types = inputs.Select(t => t is null ? null : (IrType)new TensorType(t.ElementType, InferValues.UnknownDims(t.Rank))).ToArray();
            var g = SingleOp("LSTM", types, 3, attributes);
            ShapeInference.Run(g);
            var e = Assert.Throws<KilnException>(() => new ReferenceEvaluator().Run(g, inputs.Where(t => t is not null).Cast<DataValue>().ToList()));
            Assert.Contains("LSTM node 'n'", e.Message);
            Assert.Contains(expected, e.Message);
        }

        Fails("initial_c has shape [1,3,2], expected [1,2,2]", Zeros(4, 2, 3), Zeros(1, 8, 3), Zeros(1, 8, 2), null, null, null, Zeros(1, 3, 2));
        Fails("P has shape [1,8]", Zeros(4, 2, 3), Zeros(1, 8, 3), Zeros(1, 8, 2), null, null, null, null, Zeros(1, 8));
        Fails("sequence_lens holds 5, outside [0, 4]", Zeros(4, 2, 3), Zeros(1, 8, 3), Zeros(1, 8, 2), null,
            new TensorData(ElementType.Int32, [2], new[] { 4, 5 }));
    }

    [Theory]
    [InlineData("activations", "unknown activation 'Swish'")]
    [InlineData("direction", "direction must be forward, reverse or bidirectional")]
    public void BadAttributesAreRejectedNamingTheNode(string attribute, string expected)
    {
        var attributes = Attributes(("hidden_size", AttributeValue.Int(3)));
        attributes[attribute] = attribute == "activations" ? AttributeValue.Strings("Swish") : AttributeValue.String("sideways");
        var g = SingleOp("RNN", [F32(5, 2, 4), F32(1, 3, 4), F32(1, 3, 3)], 2, attributes);
        var e = Assert.Throws<KilnException>(() => ShapeInference.Run(g));
        Assert.Contains("RNN node 'n'", e.Message);
        Assert.Contains(expected, e.Message);
    }
}
