using Kiln.Ir;
using Kiln.Ops;

namespace Kiln.Tests.Ops;

/// <summary>
/// Reductions, scans, Einsum, Det and losses on cases the ONNX suite does not cover: exact integer
/// arithmetic, empty reductions, ellipsis and diagonal equations, errors that must name the node,
/// and inferred types that match the evaluated results.
/// </summary>
public class ReduceFamilyTests
{
    /// <summary>
    /// Builds a one-operation graph (int64 inputs become constants, as axes are in real models),
    /// infers types, runs it, and checks the inferred type is the result's exact type.
    /// </summary>
    private static TensorData Run(string opType, Dictionary<string, AttributeValue>? attributes, params TensorData[] inputs)
    {
        var graph = new Graph("test");
        var operands = new Value[inputs.Length];
        var graphInputs = new List<TensorData>();
        for (int i = 0; i < inputs.Length; i++)
        {
            if (inputs[i].ElementType == ElementType.Int64)
            {
                operands[i] = graph.Add("Constant", [], new Dictionary<string, AttributeValue> { ["value"] = AttributeValue.Tensor(inputs[i]) }, $"c{i}", inputs[i].Type);
                continue;
            }
            operands[i] = graph.AddInput($"x{i}", inputs[i].Type);
            graphInputs.Add(inputs[i]);
        }
        var y = graph.Add(opType, operands, attributes, "y");
        graph.AddOutput(y);
        ShapeInference.Run(graph);
        var result = (TensorData)new ReferenceEvaluator().Run(graph, graphInputs)[0];
        Assert.Equal(result.Type, y.Type);
        return result;
    }

    private static Dictionary<string, AttributeValue> Attrs(params (string Name, AttributeValue Value)[] attributes) =>
        attributes.ToDictionary(a => a.Name, a => a.Value);

    private static TensorData Floats(long[] shape, params float[] values) => TensorData.FromFloats(shape, values);

    [Fact]
    public void ReduceSumOfInt64IsExact()
    {
        var x = TensorData.Create(ElementType.Int32, [2], new[] { int.MaxValue, 1 });
        Assert.Equal(new[] { int.MinValue }, Run("ReduceSum", Attrs(("keepdims", AttributeValue.Int(0))), x).Data<int>());
        var big = TensorData.FromInt64s([2], [(1L << 53) + 1, 1]);
        var graph = new Graph("test");
        var input = graph.AddInput("x", big.Type);
        var y = graph.Add("ReduceSum", [input], Attrs(("keepdims", AttributeValue.Int(0))), "y");
        graph.AddOutput(y);
        var result = (TensorData)new ReferenceEvaluator().Run(graph, [big])[0];
        Assert.Equal((1L << 53) + 2, result.Data<long>()[0]);
    }

    [Fact]
    public void EmptyReductionsGiveIdentities()
    {
        var empty = TensorData.Zeros(ElementType.Int32, 2, 0);
        var axes = TensorData.Vector(1);
        Assert.Equal(new[] { int.MinValue, int.MinValue }, Run("ReduceMax", null, empty, axes).Data<int>());
        Assert.Equal(new[] { int.MaxValue, int.MaxValue }, Run("ReduceMin", null, empty, axes).Data<int>());
        Assert.Equal(new[] { 1, 1 }, Run("ReduceProd", null, empty, axes).Data<int>());
        var emptyFloats = TensorData.Zeros(ElementType.Float32, 2, 0);
        Assert.Equal(new[] { float.NegativeInfinity, float.NegativeInfinity }, Run("ReduceLogSumExp", null, emptyFloats, axes).Data<float>());
    }

    [Fact]
    public void NoopWithEmptyAxesReducesEachElementAlone()
    {
        var x = Floats([2], -2, 3);
        var noop = Attrs(("noop_with_empty_axes", AttributeValue.Int(1)));
        Assert.Equal(new[] { 4f, 9f }, Run("ReduceSumSquare", noop, x).Data<float>());
        Assert.Equal(new[] { 2f, 3f }, Run("ReduceL1", noop, x, TensorData.FromInt64s([0], [])).Data<float>());
    }

    [Fact]
    public void IntegerMeanTruncatesTowardZero()
    {
        var x = TensorData.Create(ElementType.Int32, [2, 2], new[] { 1, 2, -1, -2 });
        Assert.Equal(new[] { 1, -1 }, Run("ReduceMean", Attrs(("keepdims", AttributeValue.Int(0))), x, TensorData.Vector(1)).Data<int>());
    }

    [Fact]
    public void ReduceAxisOutOfRangeNamesTheNode()
    {
        var e = Assert.Throws<KilnException>(() => Run("ReduceSum", null, Floats([2], 1, 2), TensorData.Vector(1)));
        Assert.Contains("ReduceSum node", e.Message);
    }

    [Fact]
    public void ReduceProdOfAShapeKeepsItsSymbolicValue()
    {
        var graph = new Graph("test");
        var x = graph.AddInput("x", new TensorType(ElementType.Float32, new Shape([Dim.Symbol("N"), 3, 4])));
        var shape = graph.Add("Shape", [x], null, "shape");
        var count = graph.Add("ReduceProd", [shape], Attrs(("keepdims", AttributeValue.Int(0))), "count");
        graph.AddOutput(count);
        var inference = new ShapeInference();
        inference.InferGraph(graph);
        Assert.Equal("i64[]", count.Type.ToString());
        Assert.Equal([Dim.Symbol("N") * 12], inference.ShapeValueOf(count)!);
    }

    [Fact]
    public void ArgMaxSelectsFirstOrLastTie()
    {
        var x = Floats([4], 1, 5, 5, 2);
        Assert.Equal(new[] { 1L }, Run("ArgMax", null, x).Data<long>());
        Assert.Equal(new[] { 2L }, Run("ArgMax", Attrs(("select_last_index", AttributeValue.Int(1))), x).Data<long>());
    }

    [Fact]
    public void CumSumReverseExclusiveIsExactForInt64()
    {
        var x = TensorData.Create(ElementType.Int32, [3], new[] { 1, 2, 3 });
        var attrs = Attrs(("reverse", AttributeValue.Int(1)), ("exclusive", AttributeValue.Int(1)));
        Assert.Equal(new[] { 5, 3, 0 }, Run("CumSum", attrs, x, TensorData.Scalar(ElementType.Int64, 0L)).Data<int>());
    }

    [Fact]
    public void EinsumHandlesEllipsisDiagonalsAndBroadcasting()
    {
        var batch = Floats([2, 2, 2], 1, 2, 3, 4, 5, 6, 7, 8);
        Assert.Equal(new[] { 1f, 4, 5, 8 }, Run("Einsum", Attrs(("equation", AttributeValue.String("...ii->...i"))), batch).Data<float>());
        Assert.Equal(new[] { 5f, 13 }, Run("Einsum", Attrs(("equation", AttributeValue.String("bii"))), batch).Data<float>());

        // [2,1,2,2] x [3,2,1] broadcasts the ellipsis to [2,3].
        var a = Floats([2, 1, 2, 2], 1, 0, 0, 1, 2, 0, 0, 2);
        var b = Floats([3, 2, 1], 1, 2, 3, 4, 5, 6);
        var product = Run("Einsum", Attrs(("equation", AttributeValue.String("...ij,...jk->...ik"))), a, b);
        Assert.Equal([2L, 3, 2, 1], product.Shape);
        Assert.Equal(new[] { 1f, 2, 3, 4, 5, 6, 2, 4, 6, 8, 10, 12 }, product.Data<float>());

        // Implicit output: letters used once, in alphabetical order ("ba,ca" gives "bc").
        var implicitResult = Run("Einsum", Attrs(("equation", AttributeValue.String("ba,ca"))), Floats([1, 2], 1, 2), Floats([1, 2], 3, 4));
        Assert.Equal(new[] { 11f }, implicitResult.Data<float>());
    }

    [Fact]
    public void EinsumRejectsAMismatchedEquation()
    {
        var e = Assert.Throws<KilnException>(() => Run("Einsum", Attrs(("equation", AttributeValue.String("ijk->i"))), Floats([2, 2], 1, 2, 3, 4)));
        Assert.Contains("Einsum node", e.Message);
    }

    [Fact]
    public void DetOfSingularAndPivotedMatrices()
    {
        var x = Floats([2, 3, 3], 1, 2, 3, 2, 4, 6, 0, 0, 1, /* needs a pivot: */ 0, 2, 0, 1, 0, 0, 0, 0, 3);
        Assert.Equal(new[] { 0f, -6f }, Run("Det", null, x).Data<float>());
    }

    [Fact]
    public void NegativeLogLikelihoodRejectsTargetsOutsideTheClasses()
    {
        var input = Floats([1, 2], -0.5f, -1f);
        var e = Assert.Throws<KilnException>(() => Run("NegativeLogLikelihoodLoss", null, input, TensorData.FromInt64s([1], [2])));
        Assert.Contains("not a class index", e.Message);
    }
}
