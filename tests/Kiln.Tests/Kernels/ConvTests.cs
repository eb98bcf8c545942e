using Kiln.Ir;
using static Kiln.Tests.Kernels.GemmTestHarness;

namespace Kiln.Tests.Kernels;

/// <summary>
/// The convolution kernel families ("conv", "conv.depthwise", "conv.transpose") against the
/// reference: 1-D to 3-D, groups and depthwise (with multipliers), strides, dilations, asymmetric
/// and negative-free pads, auto_pad, sizes off every panel edge, weights as constants (packed at
/// compile time) and as inputs, with and without bias, batches, float16, and empty batches.
/// </summary>
public class ConvTests
{
    public static TheoryData<long[], long[], long, long[], long[], long[]> Convolutions() => new()
    {
        // x shape, w shape, group, strides, dilations, pads
        { [1, 3, 9, 11], [5, 3, 3, 3], 1, [1, 1], [1, 1], [1, 1, 1, 1] },
        { [2, 4, 8, 17], [6, 2, 3, 2], 2, [2, 1], [1, 2], [0, 1, 2, 0] },
        { [1, 16, 7, 7], [16, 1, 3, 3], 16, [1, 1], [1, 1], [1, 1, 1, 1] },
        { [1, 8, 12, 13], [8, 1, 3, 3], 8, [2, 2], [1, 1], [1, 1, 1, 1] },
        { [1, 6, 10, 9], [6, 1, 5, 5], 6, [2, 2], [1, 1], [2, 2, 2, 2] },
        { [1, 6, 10, 9], [6, 1, 5, 5], 6, [1, 1], [1, 1], [2, 1, 2, 3] },
        { [2, 4, 9, 9], [8, 1, 3, 3], 4, [1, 2], [2, 1], [2, 0, 1, 1] },
        { [1, 5, 6, 30], [13, 5, 1, 1], 1, [1, 1], [1, 1], [0, 0, 0, 0] },
        { [1, 5, 6, 30], [13, 5, 1, 1], 1, [2, 3], [1, 1], [0, 0, 0, 0] },
        { [1, 3, 40, 40], [16, 3, 3, 3], 1, [2, 2], [1, 1], [1, 1, 1, 1] },
        { [1, 64, 20, 20], [70, 64, 3, 3], 1, [1, 1], [1, 1], [1, 1, 1, 1] },
        { [2, 3, 17], [4, 3, 4], 1, [2], [1], [1, 2] },
        { [1, 4, 5, 6, 7], [6, 2, 2, 3, 2], 2, [1, 2, 1], [2, 1, 1], [1, 0, 1, 0, 1, 1] },
        { [0, 3, 5, 5], [4, 3, 3, 3], 1, [1, 1], [1, 1], [1, 1, 1, 1] },
        // The direct (band) path: rows cut into 64-, 16- and partial-wide tiles, a partial filter
        // panel, height stride with dilation and asymmetric pads, groups, 1-D, and bands of one row.
        { [1, 5, 6, 150], [13, 5, 3, 3], 1, [1, 1], [1, 1], [1, 1, 1, 1] },
        { [1, 40, 30, 90], [8, 40, 3, 3], 1, [2, 1], [2, 2], [2, 1, 0, 3] },
        { [1, 8, 10, 70], [12, 4, 3, 3], 2, [1, 1], [1, 1], [1, 1, 1, 1] },
        { [2, 3, 100], [4, 3, 5], 1, [1], [1], [2, 2] },
        { [1, 100, 6, 300], [7, 100, 3, 3], 1, [1, 1], [1, 1], [1, 1, 1, 1] },
        { [1, 3, 37, 161], [24, 3, 5, 5], 1, [2, 2], [1, 1], [1, 1, 2, 2] },
        // Pointwise read in place: batches, groups, 64/16-pixel tiles and a tail; deeper than 128 (packed B).
        { [2, 8, 5, 29], [12, 4, 1, 1], 2, [1, 1], [1, 1], [0, 0, 0, 0] },
        { [1, 130, 3, 7], [6, 130, 1, 1], 1, [1, 1], [1, 1], [0, 0, 0, 0] },
        { [1, 4, 11, 100], [9, 4, 3, 4], 1, [1, 3], [1, 2], [0, 2, 1, 1] },
        // Depthwise rows wide enough for the vector path, around its edges.
        { [1, 4, 11, 37], [4, 1, 3, 3], 4, [1, 1], [1, 1], [1, 1, 1, 1] },
        { [2, 3, 9, 45], [3, 1, 3, 3], 3, [2, 2], [1, 1], [1, 1, 1, 1] },
        { [1, 2, 13, 50], [4, 1, 5, 5], 2, [2, 2], [1, 1], [2, 2, 2, 2] },
        { [1, 2, 8, 41], [2, 1, 3, 3], 2, [1, 1], [2, 2], [2, 2, 2, 2] },
        { [1, 2, 6, 33], [2, 1, 7, 7], 2, [1, 1], [1, 1], [3, 3, 3, 3] },
        { [1, 2, 5, 40], [2, 1, 3, 3], 2, [2, 2], [1, 1], [0, 1, 1, 0] },
        { [1, 2, 9, 50], [2, 1, 3, 3], 2, [3, 3], [1, 1], [1, 1, 1, 1] },
        { [1, 2, 4, 24], [2, 1, 3, 3], 2, [1, 2], [1, 1], [0, 0, 0, 0] },
        // Depthwise rows of more than eight vectors (blocks along a row, a partial last vector), stride 2 and 5x5.
        { [1, 3, 5, 150], [3, 1, 3, 3], 3, [1, 1], [1, 1], [1, 1, 1, 1] },
        { [1, 2, 7, 300], [4, 1, 5, 5], 2, [2, 2], [1, 1], [2, 2, 2, 1] },
    };

    [Theory]
    [MemberData(nameof(Convolutions))]
    public void ConvMatchesReference(long[] x, long[] w, long group, long[] strides, long[] dilations, long[] pads)
    {
        foreach (var (constW, bias) in new[] { (true, true), (false, true), (true, false) })
        {
            var h = new GemmTestHarness();
            var xv = h.Input(Random(1, x));
            var wv = h.Operand(Random(2, w), constW);
            var bv = bias ? h.Operand(Random(3, w[0]), constW) : null;
            h.Output(h.Op("Conv", [xv, wv, bv], Int("group", group), Ints("strides", strides), Ints("dilations", dilations), Ints("pads", pads)));
            // float32 sums over a deep window round by ~depth·ε·|terms|; random ±0.5 operands cancel to small results.
            long depth = x[1] / group * w.Skip(2).Aggregate(1L, (p, k) => p * k);
            h.Check(atol: 1e-5 * Math.Max(1.0, depth / 100.0));
        }
    }

    [Theory]
    [InlineData("SAME_UPPER", 1)]
    [InlineData("SAME_LOWER", 2)]
    [InlineData("VALID", 2)]
    [InlineData("SAME_UPPER", 3)]
    public void AutoPad(string autoPad, long stride)
    {
        foreach (long group in new long[] { 1, 4 })
        {
            var h = new GemmTestHarness();
            var x = h.Input(Random(4, 1, 4, 10, 7));
            var w = h.Constant(Random(5, 4, 4 / group, 4, 3));
            h.Output(h.Op("Conv", [x, w], Int("group", group), Ints("strides", stride, stride), String("auto_pad", autoPad)));
            h.Check();
        }
    }

    [Fact]
    public void Float16Conv()
    {
        var h = new GemmTestHarness();
        var x = h.Input(Random(6, ElementType.Float16, 1, 3, 8, 8));
        var w = h.Constant(Random(7, ElementType.Float16, 4, 3, 3, 3));
        var b = h.Constant(Random(8, ElementType.Float16, 4));
        h.Output(h.Op("Conv", [x, w, b], Ints("pads", 1, 1, 1, 1)));
        h.Check(rtol: 4e-3, atol: 4e-3);
    }

    public static TheoryData<long[], long[], long, long[], long[], long[], long[]> Transposes() => new()
    {
        // x shape, w shape, group, strides, dilations, pads, output_padding
        { [1, 3, 5, 6], [3, 4, 3, 3], 1, [1, 1], [1, 1], [0, 0, 0, 0], [0, 0] },
        { [2, 4, 5, 6], [4, 3, 3, 2], 2, [2, 3], [1, 1], [1, 0, 0, 1], [1, 2] },
        { [1, 8, 7, 7], [8, 5, 2, 2], 1, [2, 2], [1, 1], [0, 0, 0, 0], [0, 0] },
        { [1, 6, 4, 5], [6, 7, 3, 3], 1, [2, 2], [2, 2], [1, 1, 1, 1], [0, 1] },
        { [1, 2, 9], [2, 3, 4], 1, [3], [1], [1, 2], [2] },
        { [1, 2, 3, 4, 3], [2, 2, 2, 3, 2], 2, [1, 2, 1], [1, 1, 2], [0, 1, 0, 0, 0, 1], [0, 1, 0] },
        { [1, 40, 12, 12], [40, 36, 3, 3], 1, [1, 1], [1, 1], [1, 1, 1, 1], [0, 0] },
    };

    [Theory]
    [MemberData(nameof(Transposes))]
    public void ConvTransposeMatchesReference(long[] x, long[] w, long group, long[] strides, long[] dilations, long[] pads, long[] outputPadding)
    {
        foreach (var (constW, bias) in new[] { (true, true), (false, false) })
        {
            var h = new GemmTestHarness();
            var xv = h.Input(Random(11, x));
            var wv = h.Operand(Random(12, w), constW);
            var bv = bias ? h.Operand(Random(13, w[1] * group), constW) : null;
            h.Output(h.Op("ConvTranspose", [xv, wv, bv], Int("group", group), Ints("strides", strides), Ints("dilations", dilations),
                Ints("pads", pads), Ints("output_padding", outputPadding)));
            h.Check();
        }
    }

    [Theory]
    [InlineData("SAME_UPPER")]
    [InlineData("SAME_LOWER")]
    [InlineData("VALID")]
    public void ConvTransposeAutoPadAndOutputShape(string autoPad)
    {
        var h = new GemmTestHarness();
        var x = h.Input(Random(14, 1, 2, 4, 5));
        var w = h.Constant(Random(15, 2, 3, 3, 3));
        h.Output(h.Op("ConvTranspose", [x, w], Ints("strides", 2, 2), String("auto_pad", autoPad)));
        h.Output(h.Op("ConvTranspose", [x, w], Ints("strides", 2, 2), Ints("output_shape", 10, 12)));
        h.Check();
    }
}
