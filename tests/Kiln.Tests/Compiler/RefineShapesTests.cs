using Kiln.Compiler.Passes;
using Kiln.Conformance;
using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime;

namespace Kiln.Tests.Compiler;

/// <summary>
/// Range over operands given as data: its length comes from a declaration, or from the sizes after
/// it (RefineShapes, as in an expanded window), and the "range" kernel refuses operands that give
/// another length at run time.
/// </summary>
public sealed class RefineShapesTests
{
    private static Model Parse(string text)
    {
        var model = new Model(IrParser.ParseGraph(text));
        model.OpsetImports[""] = 21;
        var declared = new Dictionary<Value, IrType>(ReferenceEqualityComparer.Instance);
        foreach (var v in model.Graph.Inputs) declared[v] = v.Type;
        foreach (var op in model.Graph.Operations)
            foreach (var r in op.Outputs) if (r is not null) declared[r] = r.Type;
        ShapeInference.Run(model.Graph, declared);
        return model;
    }

    private static void Agrees(string text, string device, params DataValue[] inputs)
    {
        var expected = new ReferenceEvaluator().Run(Parse(text).Graph, inputs);
        var actual = new CompiledEngine(device).Run(Parse(text), inputs);
        for (int i = 0; i < expected.Count; i++)
        {
            var diff = Comparison.Compare($"#{i}", expected[i], actual[i], 1e-6, 1e-7);
            Assert.True(diff is null, diff);
        }
    }

    private static void Refused(string text, string device, string message, params DataValue[] inputs)
    {
        var e = Assert.Throws<KilnRuntimeException>(() => new CompiledEngine(device).Run(Parse(text), inputs));
        Assert.Contains(message, e.Message);
    }

    // A window's expanded form: Range over the size, elementwise math, a declared result.
    private const string Window = """
        graph @main(%n: i32[]) {
          %zero = Constant() {value = dense<f32[]>[0.0]} : f32[]
          %one = Constant() {value = dense<f32[]>[1.0]} : f32[]
          %step = Constant() {value = dense<f32[]>[0.5]} : f32[]
          %size = Cast(%n) {to = 1} : f32[]
          %r = Range(%zero, %size, %one) : f32[?]
          %a = Mul(%r, %step) : f32[?]
          %c = Cos(%a) : f32[?]
          %s = Sin(%a) : f32[?]
          %sum = Add(%c, %s) : f32[?]
          %y = Cast(%sum) {to = 11} : f64[6]
          return %y
        }
        """;

    [Fact]
    public void The_length_after_a_range_reaches_it()
    {
        var graph = Parse(Window).Graph;
        Assert.True(RefineShapes.Run(graph));
        var range = graph.Operations.Single(o => o.OpType == "Range");
        Assert.Equal("f32[6]", range.Output(0).Type.ToString());
        Assert.Equal("f32[6]", graph.Operations.Single(o => o.OpType == "Add").Output(0).Type.ToString());
    }

    [Theory]
    [InlineData("sync")]
    [InlineData("task")]
    public void A_range_of_the_implied_length_agrees(string device) => Agrees(Window, device, TensorData.Scalar(ElementType.Int32, 6));

    [Theory]
    [InlineData("sync", 5)]
    [InlineData("task", 7)]
    public void A_range_of_another_length_is_refused(string device, int n) =>
        Refused(Window, device, $"give {n} elements at run time, but the result was compiled for 6", TensorData.Scalar(ElementType.Int32, n));

    private const string Declared = """
        graph @main(%a: {0}[], %b: {0}[], %d: {0}[]) {
          %y = Range(%a, %b, %d) : {0}[{1}]
          return %y
        }
        """;

    [Theory]
    [InlineData("i64", 4, 3L, 15L, 3L)]
    [InlineData("i32", 5, 10, -3, -3)]
    [InlineData("i16", 0, (short)4, (short)4, (short)1)]
    [InlineData("f32", 7, 1.5f, 3.25f, 0.25f)]
    [InlineData("f64", 3, 0.0, -1.0, -0.4)]
    public void A_declared_range_agrees(string type, long length, object start, object limit, object delta)
    {
        var et = type switch { "i64" => ElementType.Int64, "i32" => ElementType.Int32, "i16" => ElementType.Int16, "f32" => ElementType.Float32, _ => ElementType.Float64 };
        string text = Declared.Replace("{0}", type).Replace("{1}", length.ToString());
        TensorData S(object v) => v switch
        {
            long l => TensorData.Scalar(et, l), int i => TensorData.Scalar(et, i), short s => TensorData.Scalar(et, s),
            float f => TensorData.Scalar(et, f), _ => TensorData.Scalar(et, (double)v),
        };
        foreach (var device in new[] { "sync", "task" }) Agrees(text, device, S(start), S(limit), S(delta));
    }

    [Fact]
    public void A_declared_range_refuses_other_operands()
    {
        string text = Declared.Replace("{0}", "i64").Replace("{1}", "4");
        Refused(text, "sync", "give 5 elements at run time", TensorData.Scalar(ElementType.Int64, 0L), TensorData.Scalar(ElementType.Int64, 5L), TensorData.Scalar(ElementType.Int64, 1L));
        Refused(text, "sync", "delta is 0", TensorData.Scalar(ElementType.Int64, 0L), TensorData.Scalar(ElementType.Int64, 5L), TensorData.Scalar(ElementType.Int64, 0L));
    }
}
