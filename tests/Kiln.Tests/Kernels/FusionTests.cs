using Kiln.Ir;
using static Kiln.Tests.Kernels.GemmTestHarness;

namespace Kiln.Tests.Kernels;

/// <summary>
/// The epilogue fusion pass: chains after Conv, ConvTranspose, Gemm and MatMul become one dispatch
/// (weights folded, stages in the epilogue) and still match the reference; chains that must not
/// fuse (an intermediate used twice, an operand that depends on the result) stay correct.
/// </summary>
public class FusionTests
{
    private static Value Scalar(GemmTestHarness h, float v) => h.Constant(TensorData.FromFloats([], [v]));

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    public void ConvBatchNormRelu(long group)
    {
        var h = new GemmTestHarness();
        var x = h.Input(Random(1, 2, 8, 9, 10));
        var y = h.Op("Conv", [x, h.Constant(Random(2, 8, 8 / group, 3, 3)), h.Constant(Random(3, 8))], Int("group", group), Ints("pads", 1, 1, 1, 1));
        var variance = h.Constant(TensorData.FromFloats([8], Enumerable.Range(1, 8).Select(i => i * 0.3f).ToArray()));
        y = h.Op("BatchNormalization", [y, h.Constant(Random(4, 8)), h.Constant(Random(5, 8)), h.Constant(Random(6, 8)), variance]);
        h.Output(h.Op("Relu", [y]));
        h.Check(dispatches: 1);
    }

    [Fact]
    public void AffineHardSwishSpelledOutAndPostScale()
    {
        // The PP-OCR block: Conv, per-channel Mul/Add, x·Clip(x+3, 0, 6)/6, per-channel Mul/Add.
        var h = new GemmTestHarness();
        var x = h.Input(Random(7, 1, 6, 12, 11));
        var y = h.Op("Conv", [x, h.Constant(Random(8, 16, 6, 1, 1)), h.Constant(Random(9, 16))]);
        y = h.Op("Mul", [h.Constant(Random(10, 16, 1, 1)), y]);
        y = h.Op("Add", [y, h.Constant(Random(11, 16, 1, 1))]);
        var clip = h.Op("Clip", [h.Op("Add", [y, Scalar(h, 3)]), Scalar(h, 0), Scalar(h, 6)]);
        y = h.Op("Div", [h.Op("Mul", [y, clip]), Scalar(h, 6)]);
        y = h.Op("Mul", [h.Constant(Random(12, 1)), y]);
        h.Output(h.Op("Add", [y, h.Constant(Random(13, 1))]));
        h.Check(dispatches: 1);
    }

    [Fact]
    public void ResidualBeforeAndAfterActivation()
    {
        var h = new GemmTestHarness();
        var x = h.Input(Random(14, 2, 4, 7, 9));
        var residual = h.Input(Random(15, 2, 5, 7, 9));
        var y = h.Op("Conv", [x, h.Constant(Random(16, 5, 4, 3, 3))], Ints("pads", 1, 1, 1, 1));
        y = h.Op("Relu", [h.Op("Add", [residual, y])]);
        y = h.Op("Sub", [residual, h.Op("Clip", [y, Scalar(h, 0.1f), Scalar(h, 0.9f)])]);
        h.Output(h.Op("Mul", [y, h.Input(Random(17, 2, 5, 1, 1))]));
        h.Check(dispatches: 1);
    }

    [Fact]
    public void DepthwiseAndTransposeEpilogues()
    {
        var h = new GemmTestHarness();
        var x = h.Input(Random(18, 1, 4, 10, 40));
        var y = h.Op("Conv", [x, h.Constant(Random(19, 4, 1, 3, 3)), h.Constant(Random(20, 4))], Int("group", 4), Ints("pads", 1, 1, 1, 1));
        y = h.Op("LeakyRelu", [y], Float("alpha", 0.2f));
        y = h.Op("ConvTranspose", [y, h.Constant(Random(21, 4, 3, 2, 2)), h.Constant(Random(22, 3))], Ints("strides", 2, 2));
        h.Output(h.Op("HardSigmoid", [h.Op("Div", [y, h.Constant(Random(23, 3, 1, 1))])]));
        h.Check(dispatches: 2);
    }

    [Fact]
    public void MatMulBiasAndGemmActivation()
    {
        var h = new GemmTestHarness();
        var x = h.Input(Random(24, 3, 5, 20));
        var y = h.Op("MatMul", [x, h.Constant(Random(25, 20, 18))]);
        y = h.Op("HardSwish", [h.Op("Add", [y, h.Constant(Random(26, 18))])]);
        h.Output(y);
        var a = h.Input(Random(27, 7, 9));
        var g = h.Op("Gemm", [a, h.Constant(Random(28, 9, 11)), h.Constant(Random(29, 11))], Float("alpha", 2f));
        h.Output(h.Op("Clip", [g, Scalar(h, -0.5f), Scalar(h, 0.5f)]));
        h.Check(dispatches: 2);
    }

    [Fact]
    public void SharedIntermediatesAndDependentOperandsDoNotFuse()
    {
        // Squeeze-excite: the gate depends on the conv's result, so the Mul cannot join its epilogue.
        var h = new GemmTestHarness();
        var x = h.Input(Random(30, 1, 4, 6, 6));
        var y = h.Op("Conv", [x, h.Constant(Random(31, 4, 4, 1, 1))]);
        var gate = h.Op("Sigmoid", [h.Op("Conv", [y, h.Constant(Random(32, 4, 4, 1, 1))])]);
        h.Output(h.Op("Mul", [y, gate]));
        h.Output(h.Op("Relu", [y]));
        h.Check();
    }
}
