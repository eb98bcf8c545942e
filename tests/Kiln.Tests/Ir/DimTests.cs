using Kiln.Ir;

namespace Kiln.Tests.Ir;

public class DimTests
{
    [Fact]
    public void KnownArithmeticFolds()
    {
        Dim a = 7, b = 2;
        Assert.Equal(9, (a + b).Value);
        Assert.Equal(3, (a / b).Value);
        Assert.Equal(4, Dim.CeilDiv(a, b).Value);
        Assert.Equal(-4, ((Dim)(-7) / b).Value); // floor division
        Assert.Equal(1, (a % b).Value);
    }

    [Fact]
    public void SymbolicArithmeticStaysSymbolicAndEvaluates()
    {
        var h = Dim.Symbol("H");
        var outH = (h + 2 - 3) / 2 + 1; // a stride-2 3x3 conv with pads 1,1
        Assert.True(outH.IsSymbolic);
        Assert.Equal(320, outH.Evaluate(s => s == "H" ? 640 : null));
        Assert.Equal(outH, (h + 2 - 3) / 2 + 1);
        Assert.NotEqual(outH, (h + 2 - 3) / 2 + 2);
    }

    [Fact]
    public void UnknownDimsEqualOnlyThemselves()
    {
        var u = Dim.Unknown();
        Assert.Equal(u, u);
        Assert.NotEqual(u, Dim.Unknown());
    }

    [Theory]
    [InlineData("f32[1,3,H,W]")]
    [InlineData("f32[(H - 1)/2 + 1,ceildiv(W, 4),max(N, 2),mod(H, 3)]")]
    [InlineData("i64[*]")]
    [InlineData("seq<opt<bf16[?,\"batch size\"]>>")]
    [InlineData("f8e4m3fn[]")]
    [InlineData("f32[N*4,H + W*(-1)]")]
    public void TypesRoundTripThroughText(string text)
    {
        var g = IrParser.ParseGraph($"graph @g(%x: {text}) {{\n  return %x\n}}\n");
        string printed = g.Inputs[0].Type.ToString();
        var again = IrParser.ParseGraph($"graph @g(%x: {printed}) {{\n  return %x\n}}\n");
        Assert.Equal(printed, again.Inputs[0].Type.ToString());
        if (!text.Contains('?')) Assert.Equal(g.Inputs[0].Type, again.Inputs[0].Type);
    }
}
