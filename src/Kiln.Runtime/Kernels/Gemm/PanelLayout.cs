using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kiln.Runtime.Kernels.Gemm;

/// <summary>
/// The packed operand layout of the fp32 GEMM, shared by the compiler (which packs constant
/// weights into it at compile time) and the kernels (which pack activations into it at run time).
/// <para>
/// C = A·B with A [M, K] and B [K, N]. A is cut into panels of <see cref="Rows"/> consecutive rows,
/// B into panels of <see cref="Columns"/> consecutive columns. A packed operand is
/// <c>[panel][k][lane]</c>: panel p holds, for every k in order, the <i>lanes</i> values of its
/// rows (or columns) at depth k, zero-padded past the matrix edge. So any depth range of a panel
/// is contiguous, and the microkernel streams it with unit stride.
/// </para>
/// The panel widths suit a 6×16 microkernel: 12 accumulators of 8 floats, which fits the 16 vector
/// registers of AVX2 and is as fast as a 512-bit kernel on Zen 4 (both issue two 256-bit FMAs a cycle).
/// Stateless; thread-safe.
/// </summary>
public static unsafe class PanelLayout
{
    /// <summary>Rows of A per panel (MR): output channels of a convolution, rows of a matrix product.</summary>
    public const int Rows = 6;

    /// <summary>Columns of B per panel (NR): output pixels of a convolution, columns of a matrix product.</summary>
    public const int Columns = 16;

    /// <summary>Panels needed to cover <paramref name="extent"/> rows or columns.</summary>
    public static long PanelCount(long extent, int lanes) => (extent + lanes - 1) / lanes;

    /// <summary>Floats of one packed operand: <paramref name="extent"/> rows (or columns) over <paramref name="depth"/>.</summary>
    public static long PackedLength(long extent, long depth, int lanes) => PanelCount(extent, lanes) * depth * lanes;

    /// <summary>
    /// Packs a strided matrix into panels (compile-time use, on managed arrays): lane i at depth k of
    /// the result is <c>source[offset + i·laneStride + k·depthStride]</c>, for i &lt; extent, else 0.
    /// </summary>
    public static void Pack(ReadOnlySpan<float> source, long offset, long laneStride, long depthStride, int extent, int depth, int lanes, Span<float> destination)
    {
        if (destination.Length < PackedLength(extent, depth, lanes)) throw new ArgumentException("destination is too small for the packed operand");
        int panels = (int)PanelCount(extent, lanes);
        for (int p = 0; p < panels; p++)
        {
            var panel = destination.Slice(p * depth * lanes, depth * lanes);
            for (int k = 0; k < depth; k++)
                for (int i = 0; i < lanes; i++)
                {
                    int lane = p * lanes + i;
                    panel[k * lanes + i] = lane < extent ? source[(int)(offset + lane * laneStride + k * depthStride)] : 0f;
                }
        }
    }

    /// <summary>
    /// Packs rows [0, rows) × depth [0, depth) of a strided A (element (i, k) at
    /// <c>a[i·rowStride + k·depthStride]</c>) into row panels at <paramref name="destination"/>,
    /// each panel <paramref name="depth"/> × <see cref="Rows"/> floats.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackRows(float* a, long rowStride, long depthStride, int rows, int depth, float* destination)
    {
        for (int i0 = 0; i0 < rows; i0 += Rows)
        {
            int n = Math.Min(Rows, rows - i0);
            float* panel = destination + (long)(i0 / Rows) * depth * Rows;
            if (n < Rows)
                for (int k = 0; k < depth; k++)
                    for (int i = n; i < Rows; i++) panel[k * Rows + i] = 0f;
            int k0 = 0;
            if (n == Rows && depthStride == 1 && Avx.IsSupported) k0 = TransposeRows(a + i0 * rowStride, rowStride, depth, panel);
            for (int i = 0; i < n; i++)
            {
                float* row = a + (i0 + i) * rowStride;
                if (depthStride == 1)
                    for (int k = k0; k < depth; k++) panel[k * Rows + i] = row[k];
                else
                    for (int k = k0; k < depth; k++) panel[k * Rows + i] = row[k * depthStride];
            }
        }
    }

    /// <summary>
    /// Packs 6 contiguous rows eight depths at a time with an 8×8 register transpose (two zero
    /// rows): each transposed column is 6 values and 2 zeros, stored 6 floats apart so the next
    /// store overwrites the zeros. Stops while 8 more depths remain, so no store passes the panel.
    /// Returns the first depth left to pack.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int TransposeRows(float* a, long rowStride, int depth, float* panel)
    {
        int k = 0;
        var zero = Vector256<float>.Zero;
        for (; k + 16 <= depth; k += 8)
        {
            var t0 = Avx.UnpackLow(Avx.LoadVector256(a + k), Avx.LoadVector256(a + rowStride + k));
            var t1 = Avx.UnpackHigh(Avx.LoadVector256(a + k), Avx.LoadVector256(a + rowStride + k));
            var t2 = Avx.UnpackLow(Avx.LoadVector256(a + 2 * rowStride + k), Avx.LoadVector256(a + 3 * rowStride + k));
            var t3 = Avx.UnpackHigh(Avx.LoadVector256(a + 2 * rowStride + k), Avx.LoadVector256(a + 3 * rowStride + k));
            var t4 = Avx.UnpackLow(Avx.LoadVector256(a + 4 * rowStride + k), Avx.LoadVector256(a + 5 * rowStride + k));
            var t5 = Avx.UnpackHigh(Avx.LoadVector256(a + 4 * rowStride + k), Avx.LoadVector256(a + 5 * rowStride + k));
            var s0 = Avx.Shuffle(t0, t2, 0x44);
            var s1 = Avx.Shuffle(t0, t2, 0xEE);
            var s2 = Avx.Shuffle(t1, t3, 0x44);
            var s3 = Avx.Shuffle(t1, t3, 0xEE);
            var s4 = Avx.Shuffle(t4, zero, 0x44);
            var s5 = Avx.Shuffle(t4, zero, 0xEE);
            var s6 = Avx.Shuffle(t5, zero, 0x44);
            var s7 = Avx.Shuffle(t5, zero, 0xEE);
            float* p = panel + k * Rows;
            Avx.Store(p, Avx.Permute2x128(s0, s4, 0x20));
            Avx.Store(p + 6, Avx.Permute2x128(s1, s5, 0x20));
            Avx.Store(p + 12, Avx.Permute2x128(s2, s6, 0x20));
            Avx.Store(p + 18, Avx.Permute2x128(s3, s7, 0x20));
            Avx.Store(p + 24, Avx.Permute2x128(s0, s4, 0x31));
            Avx.Store(p + 30, Avx.Permute2x128(s1, s5, 0x31));
            Avx.Store(p + 36, Avx.Permute2x128(s2, s6, 0x31));
            Avx.Store(p + 42, Avx.Permute2x128(s3, s7, 0x31));
        }
        return k;
    }

    /// <summary>
    /// Packs depth [0, depth) × columns [0, columns) of a strided B (element (k, j) at
    /// <c>b[k·depthStride + j·columnStride]</c>) into column panels at <paramref name="destination"/>,
    /// each panel <paramref name="depth"/> × <see cref="Columns"/> floats.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PackColumns(float* b, long depthStride, long columnStride, int columns, int depth, float* destination)
    {
        for (int j0 = 0; j0 < columns; j0 += Columns)
        {
            int n = Math.Min(Columns, columns - j0);
            float* panel = destination + (long)(j0 / Columns) * depth * Columns;
            float* src = b + j0 * columnStride;
            if (n == Columns && columnStride == 1)
            {
                for (int k = 0; k < depth; k++)
                {
                    float* s = src + k * depthStride;
                    Vector128.Store(Vector128.Load(s), panel + k * Columns);
                    Vector128.Store(Vector128.Load(s + 4), panel + k * Columns + 4);
                    Vector128.Store(Vector128.Load(s + 8), panel + k * Columns + 8);
                    Vector128.Store(Vector128.Load(s + 12), panel + k * Columns + 12);
                }
                continue;
            }
            for (int k = 0; k < depth; k++)
            {
                float* s = src + k * depthStride;
                float* d = panel + k * Columns;
                int j = 0;
                for (; j < n; j++) d[j] = s[j * columnStride];
                for (; j < Columns; j++) d[j] = 0f;
            }
        }
    }
}
