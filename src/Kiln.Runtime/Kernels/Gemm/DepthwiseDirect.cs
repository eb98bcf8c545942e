using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kiln.Runtime.Kernels.Gemm;

/// <summary>
/// The AVX-512 path of the depthwise convolution: the input rows of a group of about 32 output
/// vectors are copied, zero-padded and split by column phase (<see cref="PaddedPhases"/>), into
/// scratch (small enough to stay in L1), so every output vector of 16 pixels is the same sum over
/// taps of one weight times 16 contiguous floats, with no edge cases.
/// Outputs go in blocks of eight vectors (eight accumulators hide the FMA latency), taking the
/// plane's output vectors in row-major order, so rows of any width fill every block but the last.
/// Stateless; thread-safe.
/// </summary>
public static unsafe class DepthwiseDirect
{
    private const int Lanes = 16, Block = 8, MaxPhases = 4;
    /// <summary>Bound on the padded plane (larger planes take the row-by-row path).</summary>
    private const long MaxPlane = 1 << 21;

    public static bool Applies(ConvWindow w) => Microkernel.UsesAvx512 && w.Strides[2] <= MaxPhases;

    /// <summary>Width of a phase row: whole vectors of outputs plus the window's reach in that phase.</summary>
    private static int Width(in ConvGeometry g) => (g.OutW + Lanes - 1) / Lanes * Lanes + (g.KW - 1) * g.DW / g.SW;

    /// <summary>
    /// Output rows per group: about 32 output vectors, a whole number of blocks (rows × vectors a
    /// multiple of 8 where the width allows), so a group's padded rows stay in L1.
    /// </summary>
    private static int GroupRows(in ConvGeometry g)
    {
        int vectors = (g.OutW + Lanes - 1) / Lanes;
        int whole = Block / (int)ulong.Min(Gcd((ulong)vectors, Block), Block);
        return Math.Max(1, Math.Min(g.OutH, whole * Math.Max(1, 32 / (whole * vectors))));
    }

    private static ulong Gcd(ulong a, ulong b) => b == 0 ? a : Gcd(b, a % b);

    /// <summary>Input rows a group of <paramref name="outRows"/> output rows reads.</summary>
    private static int InputRows(in ConvGeometry g, int outRows) => (outRows - 1) * g.SH + (g.KH - 1) * g.DH + 1;

    /// <summary>Floats of one phase of a group's padded rows.</summary>
    private static long PhasePlane(in ConvGeometry g) => (long)InputRows(g, GroupRows(g)) * Width(g);

    /// <summary>
    /// Whether the direct path runs for these sizes: a plane of at least <see cref="MinRows"/> output
    /// rows (on flatter planes copying the padded rows costs more than the row-by-row path's edges)
    /// whose group of padded rows stays within <see cref="MaxPlane"/>.
    /// </summary>
    public static bool Fits(in ConvGeometry g) => g.OutH >= MinRows && g.OutW > 0 && g.SW * PhasePlane(g) <= MaxPlane;

    private const int MinRows = 8;

    /// <summary>Scratch floats: one group's padded rows (every phase), slack for the last vectors' reads, and the tap offsets.</summary>
    public static long ScratchFloats(in ConvGeometry g, int taps) => g.SW * PhasePlane(g) + Lanes + taps + Lanes;

    /// <summary>
    /// One output plane from its input plane: group by group, the group's input rows are copied
    /// padded and by phase into scratch, then its output vectors are computed, eight per block;
    /// <paramref name="finishRows"/> runs on each finished group.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TFinish>(float* input, in ConvGeometry g, float* weights, float* scratch, float* output, ref TFinish finishRows)
        where TFinish : struct, IRowsFinished
    {
        int width = Width(g), groupRows = GroupRows(g), taps = g.KH * g.KW;
        long phasePlane = PhasePlane(g);
        int* offsets = (int*)(scratch + g.SW * phasePlane + Lanes);
        for (int kh = 0, t = 0; kh < g.KH; kh++)
            for (int kw = 0; kw < g.KW; kw++)
            {
                int column = kw * g.DW;
                offsets[t++] = (int)(column % g.SW * phasePlane + (long)kh * g.DH * width + column / g.SW);
            }
        int vectors = (g.OutW + Lanes - 1) / Lanes;
        long rowStep = (long)g.SH * width;
        float** src = stackalloc float*[Block];
        float** dst = stackalloc float*[Block];
        float** output0 = stackalloc float*[Block];
        int* lanes = stackalloc int[Block];
        float* spill = stackalloc float[Block * Lanes];
        for (int oh0 = 0; oh0 < g.OutH; oh0 += groupRows)
        {
            int rows = Math.Min(groupRows, g.OutH - oh0);
            PaddedPhases.Fill(input, g.InH, g.InW, g.PadW, g.SW, oh0 * g.SH - g.PadH, InputRows(g, rows), width, phasePlane, scratch);
            // The group's output vectors in row-major order, eight per block (rows of any width share blocks).
            int total = rows * vectors, row = 0, vector = 0; // (row, vector) of the next slot, stepped
            for (int i0 = 0; i0 < total; i0 += Block)
            {
                for (int i = 0; i < Block; i++)
                {
                    bool live = i0 + i < total;
                    src[i] = scratch + row * rowStep + vector * Lanes;
                    output0[i] = output + (long)(oh0 + row) * g.OutW + vector * Lanes;
                    Target(i, output0[i], live ? Math.Min(Lanes, g.OutW - vector * Lanes) : 0, dst, lanes, spill);
                    if (live && i0 + i + 1 < total && ++vector == vectors)
                    {
                        vector = 0;
                        row++;
                    }
                }
                Accumulate(taps, weights, offsets, src, dst);
                Flush(dst, lanes, output0, spill);
            }
            finishRows.Finished(oh0, rows);
        }
    }

    /// <summary>Eight output vectors: dst[i][j] = Σ_t weights[t] · src[i][offsets[t] + j], j &lt; 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Accumulate(int taps, float* weights, int* offsets, float** src, float** dst)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        float* s0 = src[0], s1 = src[1], s2 = src[2], s3 = src[3], s4 = src[4], s5 = src[5], s6 = src[6], s7 = src[7];
        for (int t = 0; t < taps; t++)
        {
            var w = Vector512.Create(weights[t]);
            int o = offsets[t];
            a0 = Avx512F.FusedMultiplyAdd(w, Avx512F.LoadVector512(s0 + o), a0);
            a1 = Avx512F.FusedMultiplyAdd(w, Avx512F.LoadVector512(s1 + o), a1);
            a2 = Avx512F.FusedMultiplyAdd(w, Avx512F.LoadVector512(s2 + o), a2);
            a3 = Avx512F.FusedMultiplyAdd(w, Avx512F.LoadVector512(s3 + o), a3);
            a4 = Avx512F.FusedMultiplyAdd(w, Avx512F.LoadVector512(s4 + o), a4);
            a5 = Avx512F.FusedMultiplyAdd(w, Avx512F.LoadVector512(s5 + o), a5);
            a6 = Avx512F.FusedMultiplyAdd(w, Avx512F.LoadVector512(s6 + o), a6);
            a7 = Avx512F.FusedMultiplyAdd(w, Avx512F.LoadVector512(s7 + o), a7);
        }
        // No calls until every accumulator is stored (a call would spill them all inside the loop).
        a0.Store(dst[0]); a1.Store(dst[1]); a2.Store(dst[2]); a3.Store(dst[3]);
        a4.Store(dst[4]); a5.Store(dst[5]); a6.Store(dst[6]); a7.Store(dst[7]);
    }

    /// <summary>Points block slot <paramref name="i"/> at its output, or at its own row of the spill tile when it has fewer than 16 lanes there.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Target(int i, float* output, int lanes, float** dst, int* count, float* spill)
    {
        dst[i] = lanes == Lanes ? output : spill + i * Lanes;
        count[i] = lanes;
    }

    /// <summary>Copies the partial slots of a block from the spill tile to their outputs.</summary>
    private static void Flush(float** dst, int* count, float** output, float* spill)
    {
        for (int i = 0; i < Block; i++)
            if (count[i] is > 0 and < Lanes) new ReadOnlySpan<float>(spill + i * Lanes, count[i]).CopyTo(new Span<float>(output[i], count[i]));
    }
}

/// <summary>What a direct kernel calls when output rows [row, row + count) of a plane are final (the epilogue).</summary>
public interface IRowsFinished
{
    void Finished(int row, int count);
}
