using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kiln.Runtime.Kernels.Gemm;

/// <summary>
/// The register-blocked fp32 GEMM microkernel: one <see cref="PanelLayout.Rows"/> ×
/// <see cref="PanelLayout.Columns"/> tile of C from one A panel and one B panel over a depth range,
/// C = A·B or C += A·B. Per depth step it loads the B panel's 16 values once and broadcasts each of
/// the 6 A values against them, so the 12 accumulators never leave registers. Paths: AVX2+FMA
/// (Vector256) and a portable Vector128 one (NEON, SSE). Stateless; thread-safe.
/// </summary>
public static unsafe class Microkernel
{
    private const int MR = PanelLayout.Rows, NR = PanelLayout.Columns;

    /// <summary>Whether the AVX2+FMA path runs on this machine.</summary>
    public static bool UsesAvx2 => Fma.IsSupported && Vector256.IsHardwareAccelerated;

    /// <summary>Whether <see cref="WideTile"/> runs here: AVX-512 gives the 32 vector registers its 24 accumulators need.</summary>
    public static bool UsesAvx512 => Avx512F.IsSupported && Vector512.IsHardwareAccelerated;

    /// <summary>Columns of C a <see cref="WideTile"/> covers: <see cref="WidePanels"/> consecutive B panels.</summary>
    public const int WideColumns = WidePanels * NR;

    /// <summary>B panels a <see cref="WideTile"/> reads side by side.</summary>
    public const int WidePanels = 4;

    /// <summary>
    /// Four full tiles side by side, 6 × 64 of C from one A panel and four consecutive B panels
    /// <paramref name="bStride"/> floats apart (AVX-512 only: 24 accumulators of 16 floats). Per depth
    /// step it loads four B rows and broadcasts six A values, so there are 24 FMAs for every 10 loads,
    /// against 12 for 8 in <see cref="Tile"/>: the loads no longer compete with the FMAs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WideTile(int depth, float* a, float* b, long bStride, float* c, long ldc, bool accumulate)
    {
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        Vector512<float> c40 = default, c41 = default, c42 = default, c43 = default;
        Vector512<float> c50 = default, c51 = default, c52 = default, c53 = default;
        float* b1 = b + bStride, b2 = b + 2 * bStride, b3 = b + 3 * bStride;
        for (int k = 0; k < depth; k++)
        {
            var v0 = Avx512F.LoadVector512(b);
            var v1 = Avx512F.LoadVector512(b1);
            var v2 = Avx512F.LoadVector512(b2);
            var v3 = Avx512F.LoadVector512(b3);
            var x = Vector512.Create(a[0]);
            c00 = Avx512F.FusedMultiplyAdd(x, v0, c00); c01 = Avx512F.FusedMultiplyAdd(x, v1, c01);
            c02 = Avx512F.FusedMultiplyAdd(x, v2, c02); c03 = Avx512F.FusedMultiplyAdd(x, v3, c03);
            x = Vector512.Create(a[1]);
            c10 = Avx512F.FusedMultiplyAdd(x, v0, c10); c11 = Avx512F.FusedMultiplyAdd(x, v1, c11);
            c12 = Avx512F.FusedMultiplyAdd(x, v2, c12); c13 = Avx512F.FusedMultiplyAdd(x, v3, c13);
            x = Vector512.Create(a[2]);
            c20 = Avx512F.FusedMultiplyAdd(x, v0, c20); c21 = Avx512F.FusedMultiplyAdd(x, v1, c21);
            c22 = Avx512F.FusedMultiplyAdd(x, v2, c22); c23 = Avx512F.FusedMultiplyAdd(x, v3, c23);
            x = Vector512.Create(a[3]);
            c30 = Avx512F.FusedMultiplyAdd(x, v0, c30); c31 = Avx512F.FusedMultiplyAdd(x, v1, c31);
            c32 = Avx512F.FusedMultiplyAdd(x, v2, c32); c33 = Avx512F.FusedMultiplyAdd(x, v3, c33);
            x = Vector512.Create(a[4]);
            c40 = Avx512F.FusedMultiplyAdd(x, v0, c40); c41 = Avx512F.FusedMultiplyAdd(x, v1, c41);
            c42 = Avx512F.FusedMultiplyAdd(x, v2, c42); c43 = Avx512F.FusedMultiplyAdd(x, v3, c43);
            x = Vector512.Create(a[5]);
            c50 = Avx512F.FusedMultiplyAdd(x, v0, c50); c51 = Avx512F.FusedMultiplyAdd(x, v1, c51);
            c52 = Avx512F.FusedMultiplyAdd(x, v2, c52); c53 = Avx512F.FusedMultiplyAdd(x, v3, c53);
            a += MR;
            b += NR; b1 += NR; b2 += NR; b3 += NR;
        }
        Store512(c, c00, c01, c02, c03, accumulate);
        Store512(c + ldc, c10, c11, c12, c13, accumulate);
        Store512(c + 2 * ldc, c20, c21, c22, c23, accumulate);
        Store512(c + 3 * ldc, c30, c31, c32, c33, accumulate);
        Store512(c + 4 * ldc, c40, c41, c42, c43, accumulate);
        Store512(c + 5 * ldc, c50, c51, c52, c53, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(float* c, Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3, bool accumulate)
    {
        if (accumulate)
        {
            v0 += Vector512.Load(c);
            v1 += Vector512.Load(c + 16);
            v2 += Vector512.Load(c + 32);
            v3 += Vector512.Load(c + 48);
        }
        v0.Store(c);
        v1.Store(c + 16);
        v2.Store(c + 32);
        v3.Store(c + 48);
    }

    /// <summary>
    /// The full tile: C[r, j] (=|+=) Σ_k a[k·6 + r] · b[k·16 + j] for r &lt; 6, j &lt; 16.
    /// <paramref name="ldc"/> is C's row stride in floats.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Tile(int depth, float* a, float* b, float* c, long ldc, bool accumulate)
    {
        if (UsesAvx2) Tile256(depth, a, b, c, ldc, accumulate);
        else TilePortable(depth, a, b, c, ldc, accumulate);
    }

    /// <summary>A tile cut at the matrix edge: only rows &lt; <paramref name="rows"/> and columns &lt; <paramref name="columns"/> are written.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void EdgeTile(int depth, float* a, float* b, float* c, long ldc, bool accumulate, int rows, int columns)
    {
        float* tile = stackalloc float[MR * NR];
        Tile(depth, a, b, tile, NR, false);
        for (int r = 0; r < rows; r++)
        {
            float* src = tile + r * NR, dst = c + r * ldc;
            if (accumulate) for (int j = 0; j < columns; j++) dst[j] += src[j];
            else for (int j = 0; j < columns; j++) dst[j] = src[j];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile256(int depth, float* a, float* b, float* c, long ldc, bool accumulate)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int k = 0; k < depth; k++)
        {
            var b0 = Avx.LoadVector256(b);
            var b1 = Avx.LoadVector256(b + 8);
            var x = Vector256.Create(a[0]);
            c00 = Fma.MultiplyAdd(x, b0, c00); c01 = Fma.MultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[1]);
            c10 = Fma.MultiplyAdd(x, b0, c10); c11 = Fma.MultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2]);
            c20 = Fma.MultiplyAdd(x, b0, c20); c21 = Fma.MultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3]);
            c30 = Fma.MultiplyAdd(x, b0, c30); c31 = Fma.MultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4]);
            c40 = Fma.MultiplyAdd(x, b0, c40); c41 = Fma.MultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5]);
            c50 = Fma.MultiplyAdd(x, b0, c50); c51 = Fma.MultiplyAdd(x, b1, c51);
            a += MR;
            b += NR;
        }
        Store256(c, c00, c01, accumulate);
        Store256(c + ldc, c10, c11, accumulate);
        Store256(c + 2 * ldc, c20, c21, accumulate);
        Store256(c + 3 * ldc, c30, c31, accumulate);
        Store256(c + 4 * ldc, c40, c41, accumulate);
        Store256(c + 5 * ldc, c50, c51, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(float* c, Vector256<float> v0, Vector256<float> v1, bool accumulate)
    {
        if (accumulate)
        {
            v0 += Vector256.Load(c);
            v1 += Vector256.Load(c + 8);
        }
        v0.Store(c);
        v1.Store(c + 8);
    }

    /// <summary>The portable path of <see cref="Tile"/> (public so tests cover it on machines that take the AVX2 path).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void TilePortable(int depth, float* a, float* b, float* c, long ldc, bool accumulate)
    {
        // Two passes of 6×8 (12 accumulators each) keep within 16 registers on SSE as well as NEON.
        for (int half = 0; half < 2; half++)
        {
            float* pa = a, pb = b + half * 8;
            Vector128<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
            Vector128<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
            for (int k = 0; k < depth; k++)
            {
                var b0 = Vector128.Load(pb);
                var b1 = Vector128.Load(pb + 4);
                var x = Vector128.Create(pa[0]);
                c00 = Vector128.MultiplyAddEstimate(x, b0, c00); c01 = Vector128.MultiplyAddEstimate(x, b1, c01);
                x = Vector128.Create(pa[1]);
                c10 = Vector128.MultiplyAddEstimate(x, b0, c10); c11 = Vector128.MultiplyAddEstimate(x, b1, c11);
                x = Vector128.Create(pa[2]);
                c20 = Vector128.MultiplyAddEstimate(x, b0, c20); c21 = Vector128.MultiplyAddEstimate(x, b1, c21);
                x = Vector128.Create(pa[3]);
                c30 = Vector128.MultiplyAddEstimate(x, b0, c30); c31 = Vector128.MultiplyAddEstimate(x, b1, c31);
                x = Vector128.Create(pa[4]);
                c40 = Vector128.MultiplyAddEstimate(x, b0, c40); c41 = Vector128.MultiplyAddEstimate(x, b1, c41);
                x = Vector128.Create(pa[5]);
                c50 = Vector128.MultiplyAddEstimate(x, b0, c50); c51 = Vector128.MultiplyAddEstimate(x, b1, c51);
                pa += MR;
                pb += NR;
            }
            float* pc = c + half * 8;
            Store128(pc, c00, c01, accumulate);
            Store128(pc + ldc, c10, c11, accumulate);
            Store128(pc + 2 * ldc, c20, c21, accumulate);
            Store128(pc + 3 * ldc, c30, c31, accumulate);
            Store128(pc + 4 * ldc, c40, c41, accumulate);
            Store128(pc + 5 * ldc, c50, c51, accumulate);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store128(float* c, Vector128<float> v0, Vector128<float> v1, bool accumulate)
    {
        if (accumulate)
        {
            v0 += Vector128.Load(c);
            v1 += Vector128.Load(c + 4);
        }
        v0.Store(c);
        v1.Store(c + 4);
    }
}
