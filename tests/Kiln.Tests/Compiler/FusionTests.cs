using Kiln.Compiler;
using Kiln.Compiler.Lowering;
using Kiln.Compiler.Passes;
using Kiln.Ir;
using Kiln.Ops;

namespace Kiln.Tests.Compiler;

public class FusionTests
{
    /// <summary>x·sigmoid(x) + b, then Relu; plus a value that escapes the chain (y = x·2 is also an output).</summary>
    private static Model Chain()
    {
        var g = new Graph("main");
        var x = g.AddInput("x", new TensorType(ElementType.Float32, Shape.Of(Dim.Symbol("N"), 8)));
        var b = g.AddInput("b", new TensorType(ElementType.Float32, 8));
        var two = g.Add("Constant", [], new Dictionary<string, AttributeValue> { ["value"] = AttributeValue.Tensor(TensorData.Scalar(ElementType.Float32, 2f)) }, "two");
        var y = g.Add("Mul", [x, two], resultName: "y");
        var s = g.Add("Sigmoid", [y], resultName: "s");
        var m = g.Add("Mul", [y, s], resultName: "m");
        var a = g.Add("Add", [m, b], resultName: "a");
        var r = g.Add("Relu", [a], resultName: "r");
        g.AddOutput(r);
        g.AddOutput(y);
        var model = new Model(g);
        model.OpsetImports[""] = 17;
        ShapeInference.Run(g);
        return model;
    }

    private static IReadOnlyList<DataValue> Evaluate(Model m)
    {
        var x = TensorData.FromFloats([3, 8], Enumerable.Range(0, 24).Select(i => (i - 12) * 0.37f).ToArray());
        var b = TensorData.FromFloats([8], Enumerable.Range(0, 8).Select(i => i * 0.1f - 0.3f).ToArray());
        return new ReferenceEvaluator().Run(m.Graph, [x, b]);
    }

    [Fact]
    public void ChainBecomesOneRegionThatMeansTheSame()
    {
        var before = Evaluate(Chain());
        var model = Chain();
        Assert.True(FuseElementwise.Run(model.Graph));
        Verifier.Verify(model);
        var region = Assert.Single(model.Graph.Operations, o => o.Domain == "kiln");
        Assert.Equal(5, region.GetGraph("body").Operations.Count);
        Assert.Equal(["r", "y"], model.Graph.Outputs.Select(o => o.Name));   // exported values keep their names

        var after = Evaluate(model);
        for (int i = 0; i < before.Count; i++) Assert.True(((TensorData)before[i]).BitwiseEquals((TensorData)after[i]));

        string text = IrPrinter.Print(model);
        Assert.Equal(text, IrPrinter.Print(IrParser.ParseModel(text)));
    }

    [Fact]
    public void FusedChainCompilesToOneDispatch()
    {
        var plan = KilnCompiler.Compile(Chain()).Plan;
        Assert.Single(plan.Steps.OfType<DispatchStep>());
        var unfused = KilnCompiler.Compile(Chain(), new CompileOptions { Fuse = false }).Plan;
        Assert.Equal(5, unfused.Steps.OfType<DispatchStep>().Count());
    }
}
