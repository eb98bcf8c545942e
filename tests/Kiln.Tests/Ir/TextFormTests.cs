using Kiln.Ir;

namespace Kiln.Tests.Ir;

public class TextFormTests
{
    private static Model Sample()
    {
        var g = new Graph("main");
        var x = g.AddInput("input:0", new TensorType(ElementType.Float32, Shape.Of(Dim.Symbol("N"), 3, 4)));
        var w = g.Add("Constant", [], new Dictionary<string, AttributeValue>
        {
            ["value"] = AttributeValue.Tensor(TensorData.FromFloats([20], Enumerable.Range(0, 20).Select(i => i * 0.5f - 3).ToArray())),
        }, "w", new TensorType(ElementType.Float32, 20));
        var small = g.Add("Constant", [], new Dictionary<string, AttributeValue>
        {
            ["value"] = AttributeValue.Tensor(TensorData.FromFloats([3], [float.NaN, float.NegativeInfinity, 1e-7f])),
        }, "small");
        var branch = g.CreateNested("then");
        var inner = branch.Add("Neg", [x], resultName: "neg");
        branch.AddOutput(inner);
        var op = g.AddOperation("If", [small, w, null], ["out", null, "other"], new Dictionary<string, AttributeValue>
        {
            ["then_branch"] = AttributeValue.Graph(branch),
            ["f"] = AttributeValue.Float(0.1f),
            ["i"] = AttributeValue.Int(-3),
            ["s"] = AttributeValue.String("quote \" and\nnewline"),
            ["fs"] = AttributeValue.Floats(1, 2.5f),
            ["is"] = AttributeValue.Ints(),
            ["ss"] = AttributeValue.Strings("a", ""),
            ["t"] = AttributeValue.Type(new SequenceType(new TensorType(ElementType.Int4, 2))),
            ["h"] = AttributeValue.Tensor(TensorData.FromBytes(ElementType.Float16, [2], [0, 60, 0, 188])),
        }, name: "the if");
        g.AdoptNestedGraphs(op);
        g.AddOutput(op.Output(0));
        g.AddOutput(op.Output(2));
        var m = new Model(g) { IrVersion = 8, ProducerName = "test", ProducerVersion = "1" };
        m.OpsetImports[""] = 13;
        m.OpsetImports["ai.onnx.ml"] = 3;
        return m;
    }

    [Fact]
    public void PrintParsePrintIsExact()
    {
        var m = Sample();
        Verifier.Verify(m);
        string text = IrPrinter.Print(m);
        var parsed = IrParser.ParseModel(text);
        Verifier.Verify(parsed);
        Assert.Equal(text, IrPrinter.Print(parsed));
        Assert.Contains("resources {", text);     // the 20-element tensor
        Assert.Contains("%\"input:0\"", text);     // quoted name
        Assert.Contains("@\"the if\"", text);
    }

    [Fact]
    public void ParsedValuesKeepTheirData()
    {
        var parsed = IrParser.ParseModel(IrPrinter.Print(Sample()));
        var w = parsed.Graph.Operations[0].GetTensor("value")!;
        Assert.Equal(-3f, w.Data<float>()[0]);
        Assert.Equal(6.5f, w.Data<float>()[19]);
        var small = parsed.Graph.Operations[1].GetTensor("value")!.Data<float>();
        Assert.True(float.IsNaN(small[0]));
        Assert.Equal(float.NegativeInfinity, small[1]);
        Assert.Equal(1e-7f, small[2]);
    }

    [Theory]
    [InlineData("graph @g() {\n  return %nope\n}\n", "not defined")]
    [InlineData("graph @g(%x: f32[2]) {\n  %y = Neg(%x) : f32[2]\n  %y = Neg(%x) : f32[2]\n  return %y\n}\n", "defined twice")]
    [InlineData("graph @g(%x: f99[2]) {\n  return %x\n}\n", "unknown element type")]
    [InlineData("graph @g(%x: f32[2]) {\n  %y = Constant() {value = dense<f32[2]>[1.0]} : f32[2]\n  return %y\n}\n", "needs 2 elements")]
    [InlineData("graph @g(%x: f32[2]) {\n  %y = Neg(%x) {s = \"open} : f32[2]\n  return %y\n}\n", "unterminated string")]
    [InlineData("graph @g(%x: f32[2]) {\n  %y = Constant() {value = dense<f32[40]> @r9} : f32[40]\n  return %y\n}\n", "unknown resource")]
    public void ParseErrorsSayWhatAndWhere(string text, string expected)
    {
        var e = Assert.Throws<KilnException>(() => IrParser.ParseGraph(text));
        Assert.Equal(ErrorCode.ParseError, e.Code);
        Assert.Contains(expected, e.Message);
        Assert.Contains("line ", e.Message);
    }
}
