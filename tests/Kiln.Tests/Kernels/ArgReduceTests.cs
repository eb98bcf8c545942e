using Kiln.Ir;
using static Kiln.Tests.Kernels.KernelOracle;

namespace Kiln.Tests.Kernels;

/// <summary>The "argreduce" kernel (ArgMax, ArgMin) against the reference: lane lengths across tiles, every axis, ties, NaN, element types.</summary>
public class ArgReduceTests
{
    private static void Arg(string op, TensorData x, long axis, bool keepDims = true, bool last = false)
    {
        var o = new KernelOracle();
        o.Op(op, [o.Input(x)], [Int("axis", axis), Int("keepdims", keepDims ? 1 : 0), Int("select_last_index", last ? 1 : 0)]);
        o.Check();
    }

    [Theory]
    [InlineData("ArgMax")]
    [InlineData("ArgMin")]
    public void EveryAxisAndLength(string op)
    {
        foreach (long n in new long[] { 1, 2, 5, 16, 17, 511, 512, 513, 1500 })
        {
            Arg(op, Floats((int)n, 3, n), -1);
            Arg(op, Floats((int)n + 1, n, 3), 0, keepDims: false);
            Arg(op, Floats((int)n + 2, 2, n, 600), 1);
        }
    }

    [Theory]
    [InlineData("ArgMax", false)]
    [InlineData("ArgMax", true)]
    [InlineData("ArgMin", false)]
    [InlineData("ArgMin", true)]
    public void TiesGoToTheFirstOrLast(string op, bool last)
    {
        // Small integers repeat a lot; NaN wins wherever it appears first.
        Arg(op, Random(1, ElementType.Int32, 5, 40), 1, last: last);
        Arg(op, Random(2, ElementType.Int64, 40, 5), 0, last: last);
        var x = Random(3, ElementType.Float32, 4, 30);
        var f = x.Data<float>();
        f[5] = float.NaN; f[9] = float.NaN; f[30 + 29] = float.NaN; f[60] = float.NaN;
        Arg(op, x, 1, last: last);
        Arg(op, x.Reshape([30, 4]), 0, last: last);
    }

    [Theory]
    [InlineData(ElementType.Float64)]
    [InlineData(ElementType.Float16)]
    [InlineData(ElementType.BFloat16)]
    [InlineData(ElementType.UInt64)]
    [InlineData(ElementType.Int8)]
    [InlineData(ElementType.UInt8)]
    public void OtherElementTypes(ElementType type)
    {
        Arg("ArgMax", Random(4, type, 3, 20), 1);
        Arg("ArgMin", Random(5, type, 20, 3), 0, last: true);
    }

    [Fact]
    public void EmptyLanesAndEmptyAxes()
    {
        Arg("ArgMax", Floats(6, 0, 4), 1);
        var o = new KernelOracle();
        o.Op("ArgMax", [o.Input(Floats(7, 3, 0))], [Int("axis", 1)]);
        o.CheckFails("empty");
    }
}
