using Kiln.Ir;
using static Kiln.Tests.Kernels.KernelOracle;

namespace Kiln.Tests.Kernels;

/// <summary>The "softmax" kernel (Softmax, LogSoftmax, Hardmax) against the reference: every vector tail, tiles, inner lanes, extreme values, float types.</summary>
public class SoftmaxTests
{
    private static void Run(string op, TensorData x, long axis, double rtol = 1e-4)
    {
        var o = new KernelOracle();
        o.Op(op, [o.Input(x)], [Int("axis", axis)]);
        o.Check(rtol, 1e-6);
    }

    [Theory]
    [InlineData("Softmax")]
    [InlineData("LogSoftmax")]
    [InlineData("Hardmax")]
    public void LastAxisOfEveryLength(string op)
    {
        foreach (long n in new long[] { 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1023, 1024, 1025, 5000 })
            Run(op, Floats((int)n, 2, n), -1);
    }

    [Theory]
    [InlineData("Softmax")]
    [InlineData("LogSoftmax")]
    [InlineData("Hardmax")]
    public void InnerAxes(string op)
    {
        Run(op, Floats(1, 3, 7, 5), 1);
        Run(op, Floats(2, 6, 4), 0);
        Run(op, Floats(3, 2, 5, 1500), 1);  // lanes wider than a tile
        Run(op, Floats(4, 2, 0, 3), 1);     // empty
        Run(op, Floats(5, 1, 1), 0);
    }

    [Theory]
    [InlineData("Softmax")]
    [InlineData("LogSoftmax")]
    [InlineData("Hardmax")]
    public void ExtremeValues(string op)
    {
        var x = Floats(6, 4, 6);
        var f = x.Data<float>();
        for (int i = 0; i < 6; i++) f[i] = 1e30f * (i + 1);          // exp would overflow without the max subtracted
        for (int i = 6; i < 12; i++) f[i] = -1e30f;                  // all equal
        f[12] = float.NegativeInfinity;
        f[18] = float.NaN;
        Run(op, x, 1);
        Run(op, x.Reshape([6, 4]), 0);
    }

    [Theory]
    [InlineData("Softmax", ElementType.Float64)]
    [InlineData("Softmax", ElementType.Float16)]
    [InlineData("Softmax", ElementType.BFloat16)]
    [InlineData("LogSoftmax", ElementType.Float64)]
    [InlineData("LogSoftmax", ElementType.Float16)]
    [InlineData("Hardmax", ElementType.BFloat16)]
    public void OtherFloatTypes(string op, ElementType type)
    {
        double rtol = type is ElementType.Float16 or ElementType.BFloat16 ? 1e-2 : 1e-6;
        Run(op, Random(7, type, 3, 40), 1, rtol);
        Run(op, Random(8, type, 40, 3), 0, rtol);
    }

    [Theory]
    [InlineData("Softmax")]
    [InlineData("LogSoftmax")]
    [InlineData("Hardmax")]
    public void SymbolicSizes(string op)
    {
        var o = new KernelOracle();
        o.Op(op, [o.Input(Floats(9, 2, 3, 40), "B", null, "T")], [Int("axis", 1)]);
        o.Op(op, [o.Input(Floats(10, 2, 40), "B", "T")], [Int("axis", -1)]);
        o.Check();
    }
}
