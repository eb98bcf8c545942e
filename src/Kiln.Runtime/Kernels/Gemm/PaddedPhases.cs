using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kiln.Runtime.Kernels.Gemm;

/// <summary>
/// Zero-padded copies of input rows split by column phase, the layout the direct convolution
/// paths read: with width stride s, padded column j (input column j − padW) goes to phase plane
/// j mod s at column j / s. Then the input columns one tap reads for consecutive output columns
/// are contiguous in one phase plane, so kernels load whole vectors with no bounds checks and no
/// deinterleaving. Stateless; thread-safe.
/// </summary>
public static unsafe class PaddedPhases
{
    /// <summary>
    /// Copies input rows [firstRow, firstRow + rows) of one channel (<paramref name="x"/>, an
    /// <paramref name="inH"/> × <paramref name="inW"/> plane; rows outside it read as zeros) into
    /// phase planes <paramref name="phasePlane"/> floats apart at <paramref name="dst"/>, each row
    /// <paramref name="width"/> floats.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Fill(float* x, int inH, int inW, int padW, int stride, int firstRow, int rows, int width, long phasePlane, float* dst)
    {
        for (int p = 0; p < stride; p++)
        {
            // Phase column q is padded column q·s + p, input column q·s + p − padW: inside for q in [lo, hi).
            int lo = Math.Clamp(CeilDiv(padW - p, stride), 0, width), hi = Math.Clamp(CeilDiv(padW + inW - p, stride), lo, width);
            for (int r = 0; r < rows; r++)
            {
                float* row = dst + p * phasePlane + (long)r * width;
                int ih = firstRow + r;
                if ((uint)ih >= (uint)inH || hi == lo)
                {
                    new Span<float>(row, width).Clear();
                    continue;
                }
                int first = lo * stride + p - padW;
                float* src = x + (long)ih * inW + first;
                for (int j = 0; j < lo; j++) row[j] = 0f;
                if (stride == 1) Copy(src, row + lo, hi - lo);
                else Gather(src, stride, row + lo, hi - lo, inW - first);
                for (int j = hi; j < width; j++) row[j] = 0f;
            }
        }
    }

    /// <summary>A short copy inline (rows are tens to hundreds of floats: a call per row would cost as much as the copy).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Copy(float* src, float* dst, int count)
    {
        int i = 0;
        for (; i + 16 <= count; i += 16) Vector512.Store(Vector512.Load(src + i), dst + i);
        for (; i < count; i++) dst[i] = src[i];
    }

    /// <summary>dst[i] = src[i·stride] for i &lt; count; src has <paramref name="available"/> readable floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Gather(float* src, int stride, float* dst, int count, int available)
    {
        int i = 0;
        if (stride == 2 && Avx512F.IsSupported)
        {
            var evens = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            for (; i + 16 <= count && 2 * i + 32 <= available; i += 16)
                Avx512F.PermuteVar16x32x2(Avx512F.LoadVector512(src + 2 * i), evens, Avx512F.LoadVector512(src + 2 * i + 16)).Store(dst + i);
        }
        for (; i < count; i++) dst[i] = src[(long)i * stride];
    }

    private static int CeilDiv(int a, int b) => a >= 0 ? (a + b - 1) / b : -(-a / b);
}
