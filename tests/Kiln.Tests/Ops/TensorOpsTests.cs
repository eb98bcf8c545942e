using Kiln.Ir;
using Kiln.Ops;

namespace Kiln.Tests.Ops;

/// <summary>
/// The tensor-manipulation operators beyond what the ONNX cases cover: symbolic shapes through
/// shape-computing chains, data-dependent sizes, and bad indices reported as errors naming the node.
/// </summary>
public class TensorOpsTests
{
    /// <summary>Parses a graph in IR text form (result types are placeholders) and infers its types.</summary>
    private static Graph Infer(string text)
    {
        var graph = IrParser.ParseGraph(text);
        ShapeInference.Run(graph);
        return graph;
    }

    private static string TypeOf(Graph g, int output = 0) => g.Outputs[output].Type.ToString();

    [Fact]
    public void ReshapeTargetComputedFromShapeStaysSymbolic()
    {
        // x.reshape(x.shape[0], -1), the way exporters write it.
        var g = Infer("""
            graph @g(%x: f32[N,3,H,W]) {
              %s = Shape(%x) : i64[*]
              %zero = Constant() {value = dense<i64[]> [0]} : i64[*]
              %axes = Constant() {value = dense<i64[1]> [0]} : i64[*]
              %minus1 = Constant() {value = dense<i64[1]> [-1]} : i64[*]
              %n = Gather(%s, %zero) {axis = 0} : i64[*]
              %n1 = Unsqueeze(%n, %axes) : i64[*]
              %target = Concat(%n1, %minus1) {axis = 0} : i64[*]
              %y = Reshape(%x, %target) : f32[*]
              return %y
            }
            """);
        Assert.Equal("f32[N,H*W*3]", TypeOf(g));
    }

    [Fact]
    public void SliceOfShapeAndSymbolicSliceBounds()
    {
        var g = Infer("""
            graph @g(%x: f32[N,C,H,W]) {
              %s = Shape(%x) : i64[*]
              %start = Constant() {value = dense<i64[1]> [2]} : i64[*]
              %end = Constant() {value = dense<i64[1]> [9223372036854775807]} : i64[*]
              %hw = Slice(%s, %start, %end) : i64[*]
              %zero = Constant() {value = dense<i64[1]> [0]} : i64[*]
              %two = Constant() {value = dense<i64[1]> [2]} : i64[*]
              %head = Slice(%s, %zero, %two) : i64[*]
              %target = Concat(%head, %hw) {axis = 0} : i64[*]
              %same = Reshape(%x, %target) : f32[*]
              %one = Constant() {value = dense<i64[1]> [1]} : i64[*]
              %axis3 = Constant() {value = dense<i64[1]> [3]} : i64[*]
              %rest = Slice(%x, %one, %end, %axis3) : f32[*]
              %minus2 = Constant() {value = dense<i64[1]> [-2]} : i64[*]
              %last2 = Slice(%x, %minus2, %end, %axis3) : f32[*]
              return %same, %rest, %last2
            }
            """);
        Assert.Equal("f32[N,C,H,W]", TypeOf(g, 0));
        Assert.Equal("f32[N,C,H,max(W - 1, 0)]", TypeOf(g, 1));
        Assert.Equal("f32[N,C,H,min(2, W)]", TypeOf(g, 2));
    }

    [Fact]
    public void SplitConcatExpandAndRangeKeepSymbols()
    {
        var g = Infer("""
            graph @g(%x: f32[B,8,T], %row: f32[1,T]) {
              %a, %b = Split(%x) {axis = 1, num_outputs = 2} : f32[*], f32[*]
              %c = Concat(%a, %x) {axis = 1} : f32[*]
              %s = Shape(%x) : i64[*]
              %e = Expand(%row, %s) : f32[*]
              %two = Constant() {value = dense<i64[]> [2]} : i64[*]
              %t = Gather(%s, %two) {axis = 0} : i64[*]
              %zero = Constant() {value = dense<i64[]> [0]} : i64[*]
              %one = Constant() {value = dense<i64[]> [1]} : i64[*]
              %r = Range(%zero, %t, %one) : i64[*]
              %size = Size(%x) : i64[*]
              return %b, %c, %e, %r
            }
            """);
        Assert.Equal("f32[B,4,T]", TypeOf(g, 0));
        Assert.Equal("f32[B,12,T]", TypeOf(g, 1));
        Assert.Equal("f32[B,8,T]", TypeOf(g, 2));
        Assert.Equal("i64[T]", TypeOf(g, 3));
    }

    [Fact]
    public void DataDependentSizesAreUnknownUntilTheValuesAreKnown()
    {
        var g = Infer("""
            graph @g(%x: f32[4,5], %mask: bool[5]) {
              %nz = NonZero(%x) : i64[*]
              %kept = Compress(%x, %mask) {axis = 1} : f32[*]
              %u, %i, %inv, %n = Unique(%x) : f32[*], i64[*], i64[*], i64[*]
              return %nz, %kept, %u, %inv
            }
            """);
        Assert.Equal("i64[2,?]", TypeOf(g, 0));
        Assert.Equal("f32[4,?]", TypeOf(g, 1));
        Assert.Equal("f32[?]", TypeOf(g, 2));
        Assert.Equal("i64[20]", TypeOf(g, 3));
    }

    [Fact]
    public void UnknownRankKeepsElementTypes()
    {
        // Squeeze without axes on symbolic sizes cannot know the rank; later results stay unranked
        // but keep their element types.
        var g = Infer("""
            graph @g(%x: i32[N,1,C]) {
              %s = Squeeze(%x) : f32[*]
              %i = Constant() {value = dense<i64[]> [0]} : f32[*]
              %picked = Gather(%s, %i) {axis = 0} : f32[*]
              %nz = NonZero(%s) : f32[*]
              %k = Constant() {value = dense<i64[1]> [1]} : f32[*]
              %v, %idx = TopK(%s, %k) : f32[*], f32[*]
              return %picked, %nz, %idx
            }
            """);
        Assert.Equal(["i32[*]", "i64[*]", "i64[*]"], g.Outputs.Select(o => o.Type.ToString()));
    }

    [Fact]
    public void OutOfRangeGatherIndexNamesTheNode()
    {
        var g = Infer("""
            graph @g(%x: f32[3,2], %i: i64[2]) {
              %y = Gather(%x, %i) {axis = 0} : f32[*] @"pick"
              return %y
            }
            """);
        var x = TensorData.FromFloats([3, 2], [1, 2, 3, 4, 5, 6]);
        var e = Assert.Throws<KilnException>(() => new ReferenceEvaluator().Run(g, [x, TensorData.Vector(0, 3)]));
        Assert.Contains("'pick'", e.Message);
        Assert.Contains("index 3 is out of range", e.Message);

        var y = (TensorData)new ReferenceEvaluator().Run(g, [x, TensorData.Vector(-1, 0)])[0];
        Assert.Equal([5f, 6f, 1f, 2f], y.Data<float>());
    }

    [Fact]
    public void ScatterNDRejectsBadIndicesAndReducesDuplicates()
    {
        var g = Infer("""
            graph @g(%x: f32[4], %i: i64[2,1], %u: f32[2]) {
              %y = ScatterND(%x, %i, %u) {reduction = "add"} : f32[*]
              return %y
            }
            """);
        var x = TensorData.FromFloats([4], [1, 1, 1, 1]);
        var u = TensorData.FromFloats([2], [10, 20]);
        var y = (TensorData)new ReferenceEvaluator().Run(g, [x, TensorData.FromInt64s([2, 1], [2, 2]), u])[0];
        Assert.Equal([1f, 1f, 31f, 1f], y.Data<float>());
        Assert.Throws<KilnException>(() => new ReferenceEvaluator().Run(g, [x, TensorData.FromInt64s([2, 1], [0, 4]), u]));
    }

    [Fact]
    public void OversizedOrNegativeResultsAreErrorsNamingTheNode()
    {
        var g = Infer("""
            graph @g(%x: f32[2,3], %repeats: i64[2], %pads: i64[4]) {
              %t = Tile(%x, %repeats) : f32[*] @"tile"
              %p = Pad(%x, %pads) : f32[*] @"pad"
              return %t, %p
            }
            """);
        var x = TensorData.Zeros(ElementType.Float32, 2, 3);
        var fine = TensorData.Vector(0, 0, 0, 0);
        var e = Assert.Throws<KilnException>(() => new ReferenceEvaluator().Run(g, [x, TensorData.Vector(1L << 31, 1L << 31), fine]));
        Assert.Contains("'tile'", e.Message);
        e = Assert.Throws<KilnException>(() => new ReferenceEvaluator().Run(g, [x, TensorData.Vector(1, 1), TensorData.Vector(0, 0, -3, 0)]));
        Assert.Contains("'pad'", e.Message);
    }

    [Fact]
    public void PadModesOnStrings()
    {
        var g = Infer("""
            graph @g(%x: str[3]) {
              %pads = Constant() {value = dense<i64[2]> [2, 2]} : i64[*]
              %r = Pad(%x, %pads) {mode = "reflect"} : str[*]
              %w = Pad(%x, %pads) {mode = "wrap"} : str[*]
              %e = Pad(%x, %pads) {mode = "edge"} : str[*]
              return %r, %w, %e
            }
            """);
        var x = TensorData.Create(ElementType.String, [3], new[] { "a", "b", "c" });
        var results = new ReferenceEvaluator().Run(g, [x]).Cast<TensorData>().Select(t => string.Concat(t.Data<string>())).ToArray();
        Assert.Equal(["cbabcba", "bcabcab", "aaabccc"], results);
    }

    [Fact]
    public void TopKKeepsIndexOrderForTies()
    {
        var g = Infer("""
            graph @g(%x: f16[2,4]) {
              %k = Constant() {value = dense<i64[1]> [3]} : i64[*]
              %v, %i = TopK(%x, %k) {axis = 1} : f16[*], i64[*]
              return %v, %i
            }
            """);
        var x = TensorData.Create(ElementType.Float16, [2, 4], new[] { 1, 3, 3, 2, 5, 5, 5, 5 }.Select(v => (Half)v).ToArray());
        var results = new ReferenceEvaluator().Run(g, [x]);
        Assert.Equal("f16[2,3]", TypeOf(g, 0));
        Assert.Equal([1L, 2, 3, 0, 1, 2], ((TensorData)results[1]).Data<long>());
    }
}
