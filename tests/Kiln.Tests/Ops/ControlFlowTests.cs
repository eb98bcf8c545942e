using Kiln.Ir;
using Kiln.Ops;

namespace Kiln.Tests.Ops;

/// <summary>Loop, Scan and If beyond what the backend suite covers: changing carried shapes, empty loops, malformed bodies.</summary>
public sealed class ControlFlowTests
{
    private static Graph Inferred(string text)
    {
        var graph = IrParser.ParseGraph(text);
        ShapeInference.Run(graph);
        return graph;
    }

    private static TensorData Floats(long[] shape, params float[] values) => TensorData.FromFloats(shape, values);

    // x starts as [0] and becomes [1,1], [2,2], ...: its type must generalize, and each step is also a scan output.
    private const string GrowingLoop = """
        graph @main(%m: i64[], %x: f32[1]) {
          %final, %steps = Loop(%m, _, %x) {body = graph @body(%i: i64[], %c: bool[], %x_in: f32[1]) {
            %one = Constant() {value = dense<f32[2]>[1.0, 1.0]} : f32[2]
            %x_out = Add(%x_in, %one) : f32[2]
            %c_out = Identity(%c) : bool[]
            return %c_out, %x_out, %x_out
          }} : f32[*], f32[*]
          return %final, %steps
        }
        """;

    [Fact]
    public void Loop_carried_value_that_changes_shape_gets_a_general_type_and_runs()
    {
        var graph = Inferred(GrowingLoop);
        var final = (TensorType)graph.Outputs[0].Type;
        Assert.Equal(1, final.Shape.Rank);
        Assert.True(final.Shape[0].IsUnknown);

        var outputs = new ReferenceEvaluator().Run(graph, [TensorData.Scalar(ElementType.Int64, 3L), Floats([1], 0)]);
        Assert.Equal([3f, 3f], ((TensorData)outputs[0]).Data<float>());
        var steps = (TensorData)outputs[1];
        Assert.Equal([3L, 2L], steps.Shape);
        Assert.Equal([1f, 1f, 2f, 2f, 3f, 3f], steps.Data<float>());
    }

    [Fact]
    public void Loop_without_iterations_returns_the_initial_values_and_empty_scan_outputs()
    {
        var graph = Inferred(GrowingLoop);
        var outputs = new ReferenceEvaluator().Run(graph, [TensorData.Scalar(ElementType.Int64, 0L), Floats([1], 5)]);
        Assert.Equal([5f], ((TensorData)outputs[0]).Data<float>());
        Assert.Equal([0L, 2L], ((TensorData)outputs[1]).Shape);
    }

    [Fact]
    public void Loop_with_a_condition_stops_when_the_body_says_so()
    {
        // The body's condition is item i of [true, true, false]: the loop runs 3 times.
        var graph = Inferred("""
            graph @main(%m: i64[], %go: bool[]) {
              %count = Constant() {value = dense<i64[]>[0]} : i64[]
              %final = Loop(%m, %go, %count) {body = graph @body(%i: i64[], %c: bool[], %n: i64[]) {
                %yes = Constant() {value = dense<bool[]>[true]} : bool[]
                %no = Constant() {value = dense<bool[]>[false]} : bool[]
                %plan = SequenceConstruct(%yes, %yes, %no) : seq<bool[]>
                %more = SequenceAt(%plan, %i) : bool[]
                %one = Constant() {value = dense<i64[]>[1]} : i64[]
                %next = Add(%n, %one) : i64[]
                return %more, %next
              }} : i64[]
              return %final
            }
            """);
        long Run(long m, bool go) => ((TensorData)new ReferenceEvaluator().Run(graph,
            [TensorData.Scalar(ElementType.Int64, m), TensorData.Scalar(ElementType.Bool, go)])[0]).Data<long>()[0];
        Assert.Equal(3L, Run(7, true));
        Assert.Equal(2L, Run(2, true));
        Assert.Equal(0L, Run(7, false));
    }

    [Fact]
    public void Loop_body_with_too_few_outputs_is_a_model_error()
    {
        var e = Assert.Throws<KilnException>(() => Inferred("""
            graph @main(%m: i64[], %x: f32[1]) {
              %final = Loop(%m, _, %x) {body = graph @body(%i: i64[], %c: bool[], %x_in: f32[1]) {
                return %c
              }} : f32[*]
              return %final
            }
            """));
        Assert.Contains("Loop", e.Message);
        Assert.Contains("outputs", e.Message);
    }

    [Fact]
    public void If_branches_of_different_element_types_are_a_type_error()
    {
        var e = Assert.Throws<KilnException>(() => Inferred("""
            graph @main(%c: bool[]) {
              %r = If(%c) {else_branch = graph @no() {
                %b = Constant() {value = dense<i64[]>[1]} : i64[]
                return %b
              }, then_branch = graph @yes() {
                %a = Constant() {value = dense<f32[]>[1.0]} : f32[]
                return %a
              }} : f32[*]
              return %r
            }
            """));
        Assert.Equal(ErrorCode.TypeMismatch, e.Code);
    }

    [Fact]
    public void Scan_walks_backwards_and_stacks_along_the_output_axis()
    {
        var graph = Inferred("""
            graph @main(%s: f32[2], %x: f32[3,2]) {
              %sum, %partial = Scan(%s, %x) {body = graph @body(%acc: f32[2], %row: f32[2]) {
                %next = Add(%acc, %row) : f32[2]
                return %next, %next
              }, num_scan_inputs = 1, scan_input_directions = ints[1], scan_output_axes = ints[1]} : f32[2], f32[2,3]
              return %sum, %partial
            }
            """);
        Assert.Equal("f32[2,3]", graph.Outputs[1].Type.ToString());
        var outputs = new ReferenceEvaluator().Run(graph, [Floats([2], 0, 0), Floats([3, 2], 1, 10, 2, 20, 3, 30)]);
        Assert.Equal([6f, 60f], ((TensorData)outputs[0]).Data<float>());
        // Rows are visited 3, 2, 1: partial sums (3,30), (5,50), (6,60), stacked as columns.
        Assert.Equal([3f, 5f, 6f, 30f, 50f, 60f], ((TensorData)outputs[1]).Data<float>());
    }
}
