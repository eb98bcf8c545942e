using Kiln.Conformance;
using Kiln.Ir;
using Kiln.Ops;

namespace Kiln.Tests.Compiler;

/// <summary>Loop compiled to a host loop: early exit by condition, run-time trip counts, scan outputs; both devices, against the reference evaluator.</summary>
public sealed class CompiledControlFlowTests
{
    private static Model Parse(string text)
    {
        var model = new Model(IrParser.ParseGraph(text));
        model.OpsetImports[""] = 17;
        ShapeInference.Run(model.Graph);
        return model;
    }

    private static void AssertSameAsReference(string text, string device, params DataValue[] inputs)
    {
        var expected = new ReferenceEvaluator().Run(Parse(text).Graph, inputs);
        var actual = new CompiledEngine(device).Run(Parse(text), inputs);
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            var e = (TensorData)expected[i];
            var a = (TensorData)actual[i];
            Assert.Equal(e.Shape, a.Shape);
            Assert.True(e.BitwiseEquals(a), $"output {i} differs");
        }
    }

    // Counts up and doubles x until the count reaches the limit: the body computes the condition.
    private const string CountingLoop = """
        graph @main(%m: i64[], %limit: i64[], %x: f32[3]) {
          %zero = Constant() {value = dense<i64[]>[0]} : i64[]
          %go = Constant() {value = dense<bool[]>[true]} : bool[]
          %n, %y = Loop(%m, %go, %zero, %x) {body = graph @body(%i: i64[], %c: bool[], %n_in: i64[], %x_in: f32[3]) {
            %one = Constant() {value = dense<i64[]>[1]} : i64[]
            %n_out = Add(%n_in, %one) : i64[]
            %more = Less(%n_out, %limit) : bool[]
            %x_out = Add(%x_in, %x_in) : f32[3]
            return %more, %n_out, %x_out
          }} : i64[], f32[3]
          return %n, %y
        }
        """;

    [Theory]
    [InlineData("sync", 10L, 4L)]
    [InlineData("task", 10L, 4L)]
    [InlineData("sync", 2L, 4L)]
    [InlineData("sync", 0L, 4L)]
    public void Loop_with_runtime_trip_count_and_condition(string device, long m, long limit) =>
        AssertSameAsReference(CountingLoop, device,
            TensorData.Scalar(ElementType.Int64, m), TensorData.Scalar(ElementType.Int64, limit),
            TensorData.FromFloats([3], [1f, -2f, 0.5f]));

    // A fixed trip count with a scan output: the iteration number, squared, one row per step.
    private const string ScanningLoop = """
        graph @main(%x: f32[2]) {
          %m = Constant() {value = dense<i64[]>[5]} : i64[]
          %acc, %rows = Loop(%m, _, %x) {body = graph @body(%i: i64[], %c: bool[], %a: f32[2]) {
            %f = Cast(%i) {to = 1} : f32[]
            %sq = Mul(%f, %f) : f32[]
            %a_out = Add(%a, %sq) : f32[2]
            return %c, %a_out, %a_out
          }} : f32[2], f32[5,2]
          return %acc, %rows
        }
        """;

    [Theory]
    [InlineData("sync")]
    [InlineData("task")]
    public void Loop_with_scan_outputs(string device) =>
        AssertSameAsReference(ScanningLoop, device, TensorData.FromFloats([2], [0.25f, 3f]));

    // A run-time trip count with scan outputs: rows are the carried value before each update (a
    // view of the carried state), so they must be copied before the state changes.
    private const string RuntimeScan = """
        graph @main(%m: i64[], %c: bool[], %start: f32[], %delta: f32[]) {
          %last, %rows = Loop(%m, %c, %start) {body = graph @body(%i: i64[], %cond: bool[], %prev: f32[]) {
            %cond_out = Identity(%cond) : bool[]
            %next = Add(%prev, %delta) : f32[]
            %row = Identity(%prev) : f32[]
            return %cond_out, %next, %row
          }} : f32[], f32[?]
          return %last, %rows
        }
        """;

    [Theory]
    [InlineData("sync", 4L, true)]
    [InlineData("task", 7L, true)]
    [InlineData("sync", 0L, true)]
    [InlineData("sync", 3L, false)]
    public void Loop_with_runtime_trip_count_and_scan_outputs(string device, long m, bool condition) =>
        AssertSameAsReference(RuntimeScan, device,
            TensorData.Scalar(ElementType.Int64, m), TensorData.Scalar(ElementType.Bool, condition),
            TensorData.Scalar(ElementType.Float32, 1.5f), TensorData.Scalar(ElementType.Float32, 0.25f));
}
