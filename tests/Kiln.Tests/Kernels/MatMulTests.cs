using Kiln.Ir;
using static Kiln.Tests.Kernels.GemmTestHarness;

namespace Kiln.Tests.Kernels;

/// <summary>
/// The "matmul" kernel family (MatMul, Gemm) against the reference: every panel edge (rows around
/// multiples of 6, columns around multiples of 16), depths across the 256-deep blocks, row and
/// column blocks, numpy batching with broadcasts and 1-D operands, constant operands packed at
/// compile time, Gemm's transposes / alpha / beta / broadcast C, float64, integers, float16, and
/// empty products.
/// </summary>
public class MatMulTests
{
    public static TheoryData<int, int, int> Sizes()
    {
        var data = new TheoryData<int, int, int>();
        foreach (int m in new[] { 1, 5, 6, 7, 13 })
            foreach (int n in new[] { 1, 15, 16, 17, 33 })
                data.Add(m, n, m == 7 ? 300 : 9);
        data.Add(100, 530, 260); // several row, column and depth blocks; large enough to split across workers
        data.Add(6, 64, 9);      // exactly one wide (6 x 64) tile where AVX-512 runs
        data.Add(13, 130, 40);   // wide tiles with a partial row panel under them, then single panels and an edge
        data.Add(3, 4, 0);       // empty depth: zeros
        return data;
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void MatMulMatchesReference(int m, int n, int k)
    {
        foreach (var (constA, constB) in new[] { (false, false), (false, true), (true, false) })
        {
            var h = new GemmTestHarness();
            var a = h.Operand(Random(m * 7 + n, m, k), constA);
            var b = h.Operand(Random(k * 3 + n, k, n), constB);
            h.Output(h.Op("MatMul", [a, b]));
            h.Check();
        }
    }

    [Theory]
    [InlineData(new long[] { 2, 3, 5, 7 }, new long[] { 3, 7, 17 })]
    [InlineData(new long[] { 2, 1, 5, 7 }, new long[] { 1, 4, 7, 9 })]
    [InlineData(new long[] { 5, 7 }, new long[] { 2, 7, 17 })]
    [InlineData(new long[] { 7 }, new long[] { 2, 7, 20 })]
    [InlineData(new long[] { 3, 4, 7 }, new long[] { 7 })]
    [InlineData(new long[] { 7 }, new long[] { 7 })]
    [InlineData(new long[] { 2, 0, 5, 7 }, new long[] { 7, 3 })]
    public void BatchedMatMulBroadcasts(long[] aShape, long[] bShape)
    {
        foreach (bool constB in new[] { false, true })
        {
            var h = new GemmTestHarness();
            var a = h.Input(Random(1, aShape));
            var b = h.Operand(Random(2, bShape), constB);
            h.Output(h.Op("MatMul", [a, b]));
            h.Check();
        }
    }

    [Theory]
    [InlineData(ElementType.Float64)]
    [InlineData(ElementType.Int32)]
    [InlineData(ElementType.Int64)]
    [InlineData(ElementType.UInt8)]
    [InlineData(ElementType.Float16)]
    public void OtherTypes(ElementType type)
    {
        var h = new GemmTestHarness();
        var a = h.Input(Random(3, type, 2, 5, 19));
        var b = h.Operand(Random(4, type, 19, 18), type == ElementType.Float16);
        h.Output(h.Op("MatMul", [a, b]));
        h.Check(rtol: 2e-3, atol: 2e-3);
    }

    [Theory]
    [InlineData(false, false, new long[] { 7, 17 })]
    [InlineData(true, false, new long[] { 17 })]
    [InlineData(false, true, new long[] { 7, 1 })]
    [InlineData(true, true, new long[] { 1 })]
    [InlineData(true, true, new long[] { })]
    public void GemmTermsMatchReference(bool transA, bool transB, long[] cShape)
    {
        const int m = 7, n = 17, k = 11;
        foreach (bool constB in new[] { false, true })
        {
            var h = new GemmTestHarness();
            var a = h.Input(Random(5, transA ? [k, m] : [m, k]));
            var b = h.Operand(Random(6, transB ? [n, k] : [k, n]), constB);
            var c = h.Input(Random(7, cShape));
            h.Output(h.Op("Gemm", [a, b, c], Int("transA", transA ? 1 : 0), Int("transB", transB ? 1 : 0), Float("alpha", 0.5f), Float("beta", -2f)));
            h.Check();
        }
    }

    [Theory]
    [InlineData(ElementType.Float64)]
    [InlineData(ElementType.Int32)]
    [InlineData(ElementType.Float16)]
    public void GemmOtherTypes(ElementType type)
    {
        var h = new GemmTestHarness();
        var a = h.Input(Random(8, type, 9, 6));
        var b = h.Input(Random(9, type, 5, 6));
        var c = h.Input(Random(10, type, 5));
        h.Output(h.Op("Gemm", [a, b, c], Int("transB", 1), Float("alpha", 3f), Float("beta", 2f)));
        h.Check(rtol: 2e-3, atol: 2e-3);
    }
}
