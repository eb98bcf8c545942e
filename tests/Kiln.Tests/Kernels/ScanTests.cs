using Kiln.Ir;
using static Kiln.Tests.Kernels.KernelOracle;

namespace Kiln.Tests.Kernels;

/// <summary>The "scan" kernel (CumSum, CumProd) against the reference: axes given at run time, exclusive and reverse, tiles, element types.</summary>
public class ScanTests
{
    private static void Scan(string op, TensorData x, long axis, bool exclusive, bool reverse, bool constantAxis = false, double rtol = 1e-4)
    {
        var o = new KernelOracle();
        o.Op(op, [o.Input(x), o.Operand(TensorData.Scalar(ElementType.Int64, axis), constantAxis)],
            [Int("exclusive", exclusive ? 1 : 0), Int("reverse", reverse ? 1 : 0)]);
        o.Check(rtol);
    }

    public static TheoryData<string, bool, bool> Modes()
    {
        var data = new TheoryData<string, bool, bool>();
        foreach (var op in new[] { "CumSum", "CumProd" })
            foreach (bool exclusive in new[] { false, true })
                foreach (bool reverse in new[] { false, true })
                    data.Add(op, exclusive, reverse);
        return data;
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void EveryAxisAndLength(string op, bool exclusive, bool reverse)
    {
        foreach (long n in new long[] { 1, 2, 17, 1023, 1025, 2500 })
        {
            var x = op == "CumProd" ? Random((int)n, ElementType.Float64, 2, n) : Floats((int)n, 2, n);
            Scan(op, x, -1, exclusive, reverse);
            Scan(op, x.Reshape([n, 2]), 0, exclusive, reverse, constantAxis: true);
        }
        Scan(op, Floats(1, 3, 4, 1100), 1, exclusive, reverse);
        Scan(op, Floats(2, 3, 0, 2), 1, exclusive, reverse);
    }

    [Theory]
    [InlineData(ElementType.Int32)]
    [InlineData(ElementType.Int64)]
    [InlineData(ElementType.UInt64)]
    [InlineData(ElementType.Int8)]
    [InlineData(ElementType.Float16)]
    public void OtherElementTypes(ElementType type)
    {
        Scan("CumSum", Random(3, type, 3, 50), 1, false, false, rtol: 1e-2);
        Scan("CumProd", Random(4, type, 12, 3), 0, true, true, rtol: 1e-2);
    }

    [Fact]
    public void IntegerSumsWrap() =>
        Scan("CumSum", TensorData.Create(ElementType.Int32, [3], new[] { int.MaxValue, 1, 5 }), 0, false, false);

    [Fact]
    public void AxisOutOfRangeFails()
    {
        var o = new KernelOracle();
        o.Op("CumSum", [o.Input(Floats(5, 3, 4)), o.Input(TensorData.Scalar(ElementType.Int64, 2L))],
            declared: [new TensorType(ElementType.Float32, Shape.Of(3, 4))]);
        o.CheckFails("axis 2 is out of range");
    }
}
