using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kiln.Runtime.Kernels.Gemm;

/// <summary>
/// The direct path of a 2-D convolution (any kernel size, stride and dilation): no im2col. A band
/// of output rows copies the input rows it reads, for all the group's channels, into scratch once,
/// zero-padded on every side, and split by column phase when the width stride s is above 1
/// (padded column j goes to phase plane j mod s at j / s), so the columns one tap reads for
/// consecutive outputs are always contiguous. The microkernel then reads B straight from the
/// band: for output row oh, columns [ow, ow + 64) and depth k = (channel, kh, kw), the B row is
/// 64 contiguous floats of phase (kw·DW) mod s, row oh·SH + kh·DH, from column ow + kw·DW / s, one
/// offset per depth step from a table. So a packed 16-wide im2col panel (a copy of every input
/// value per tap, 9 for a 3×3) becomes one copy of each input row per band, and the loop is the
/// GEMM's: 24 accumulators of 16 floats, six A values broadcast per depth step against four B
/// vectors. Weights are the compile-time packed A panels over the full depth; results get the
/// epilogue per band while in cache. Needs AVX-512 (32 vector registers); elsewhere the packed
/// path runs. Stateless; thread-safe.
/// </summary>
public static unsafe class DirectConv
{
    private const int MR = PanelLayout.Rows, Wide = 64, Narrow = 16;
    /// <summary>Floats a band aims at (~384 KiB: room in a 1 MiB L2 for the weights and outputs too).</summary>
    private const long BandTarget = 96 * 1024;
    /// <summary>Bound on the floats of a band of one output row (a wider window or more channels takes the packed path).</summary>
    private const long MaxBand = 1 << 20;
    /// <summary>Largest width stride the band splits into phases (more phases mean narrower rows and more tiles cut short).</summary>
    private const int MaxPhases = 4;
    /// <summary>Floats read past a band row's end by a tile cut at the row's edge (their lanes are never stored).</summary>
    private const int Slack = Wide;

    /// <summary>Whether the direct path can run a convolution with this window and weights.</summary>
    public static bool Applies(ConvWindow w, bool prepacked) =>
        prepacked && Microkernel.UsesAvx512 && w.Rank <= 2 && w.Strides[2] <= MaxPhases && w.Taps > 1;

    /// <summary>Whether it runs for these sizes (a 2-D plane, and a band of the window's height fits the scratch bound).</summary>
    public static bool Fits(in ConvGeometry g, int channels) =>
        g.InD == 1 && g.OutD == 1 && g.PadD == 0 && g.OutW > 0
        && (long)channels * InputRows(g, 1) * RowFloats(g) <= MaxBand;

    /// <summary>Width of a band row of one phase: the columns output columns [0, OutW) read there.</summary>
    private static int BandWidth(in ConvGeometry g) => g.OutW + (g.KW - 1) * g.DW / g.SW;

    /// <summary>Floats of one input row in the band: its phases side by side.</summary>
    private static long RowFloats(in ConvGeometry g) => (long)g.SW * BandWidth(g);

    /// <summary>Input rows a band of <paramref name="outRows"/> output rows reads.</summary>
    private static int InputRows(in ConvGeometry g, int outRows) => (outRows - 1) * g.SH + (g.KH - 1) * g.DH + 1;

    /// <summary>Output rows per band: as many as the band target holds, at least one.</summary>
    public static int BandRows(in ConvGeometry g, int channels)
    {
        long perRow = channels * RowFloats(g) * g.SH;
        long fixedRows = channels * RowFloats(g) * ((g.KH - 1) * g.DH + 1);
        long rows = (BandTarget - fixedRows) / Math.Max(1, perRow);
        return (int)Math.Clamp(rows, 1, Math.Max(1, g.OutH));
    }

    /// <summary>Scratch floats of one workgroup: the band, its slack, and the depth offset table.</summary>
    public static long ScratchFloats(in ConvGeometry g, int channels) =>
        channels * InputRows(g, BandRows(g, channels)) * RowFloats(g) + Slack + (long)channels * g.KH * g.KW + 16;

    /// <summary>
    /// Output rows [row0, row1) of one image and group: x is the group's first input channel, a
    /// the group's packed weights, y its first output channel (row stride = the output plane).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(float* x, in ConvGeometry g, int channels, int filters, float* a, float* y, int row0, int row1,
        in EpilogueTarget epilogue, float* scratch)
    {
        int width = BandWidth(g), bandRows = BandRows(g, channels), taps = g.KH * g.KW, depth = channels * taps;
        int inRows = InputRows(g, bandRows);
        long phasePlane = (long)inRows * width, bandPlane = phasePlane * g.SW;
        float* band = scratch;
        int* offsets = (int*)(scratch + channels * bandPlane + Slack);
        for (int c = 0, k = 0; c < channels; c++)
            for (int kh = 0; kh < g.KH; kh++)
                for (int kw = 0; kw < g.KW; kw++)
                {
                    int column = kw * g.DW;
                    offsets[k++] = (int)(c * bandPlane + column % g.SW * phasePlane + kh * g.DH * width + column / g.SW);
                }
        long pixels = (long)g.OutH * g.OutW;
        float* tile = stackalloc float[MR * Wide];
        for (int r0 = row0; r0 < row1; r0 += bandRows)
        {
            int rows = Math.Min(bandRows, row1 - r0);
            FillBand(x, g, channels, r0, InputRows(g, rows), width, phasePlane, band);
            new Span<float>(band + channels * bandPlane, Slack).Clear();
            for (int m = 0; m < filters; m += MR)
            {
                float* panel = a + (long)m * depth;
                int mr = Math.Min(MR, filters - m);
                for (int r = 0; r < rows; r++)
                {
                    float* b = band + (long)r * g.SH * width;
                    long column = (long)(r0 + r) * g.OutW;
                    for (int ow = 0; ow < g.OutW;)
                    {
                        int n = Math.Min(g.OutW - ow, g.OutW - ow >= Wide ? Wide : Narrow);
                        bool whole = mr == MR && (n == Wide || n == Narrow);
                        float* c = whole ? y + m * pixels + column + ow : tile;
                        long ldc = whole ? pixels : Wide;
                        if (n == Wide) Tile64(depth, panel, b + ow, offsets, c, ldc);
                        else Tile16(depth, panel, b + ow, offsets, c, ldc);
                        if (!whole)
                            for (int i = 0; i < mr; i++)
                                new ReadOnlySpan<float>(tile + i * Wide, n).CopyTo(new Span<float>(y + (m + i) * pixels + column + ow, n));
                        ow += n;
                    }
                }
            }
            // The epilogue once per band (still in L2), not per tile.
            long first = (long)r0 * g.OutW;
            epilogue.Apply(0, first, filters, rows * g.OutW, y + first, pixels);
        }
    }

    /// <summary>Largest depth (input channels) a pointwise convolution runs directly with: deeper ones pack B, which then pays for itself.</summary>
    public const int MaxPointwiseDepth = 128;

    /// <summary>Pixels per block of the pointwise path: the block's B rows (depth × 256 floats) stay in L1 while every filter panel passes.</summary>
    private const int PointwiseBlock = 256;

    /// <summary>Whether a pointwise (1×1, unit stride, unpadded) convolution runs directly: nothing to copy, B is the input as it lies.</summary>
    public static bool AppliesPointwise(bool prepacked, int channels) => prepacked && Microkernel.UsesAvx512 && channels <= MaxPointwiseDepth;

    /// <summary>Scratch floats of the pointwise path: the depth offsets and one zero-padded 16-pixel panel for a tail.</summary>
    public static long PointwiseScratchFloats(int channels) => channels + (long)channels * Narrow + Narrow;

    /// <summary>
    /// Pixels [p0, p1) of a pointwise convolution of one image and group: B rows read in place from
    /// the input planes (x, <paramref name="pixels"/> apart), 64 or 16 pixels per tile; a tail of
    /// fewer than 16 pixels is copied into a zero-padded panel first, so no read passes the input.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RunPointwise(float* x, long pixels, int channels, int filters, float* a, float* y, long p0, long p1,
        in EpilogueTarget epilogue, float* scratch)
    {
        int* offsets = (int*)scratch;
        float* tail = scratch + channels + Narrow - channels % Narrow;
        int* tailOffsets = offsets; // reused for the tail: channel c at c·16 of the panel
        float* tile = stackalloc float[MR * Wide];
        bool fits = (long)channels * pixels <= int.MaxValue;
        for (long b0 = p0; b0 < p1; b0 += PointwiseBlock)
        {
            long b1 = Math.Min(p1, b0 + PointwiseBlock);
            long full = b0 + (b1 - b0) / Narrow * Narrow;
            for (int m = 0; m < filters; m += MR)
            {
                float* panel = a + (long)m * channels;
                int mr = Math.Min(MR, filters - m);
                for (int c = 0; c < channels; c++) offsets[c] = (int)(c * pixels);
                for (long p = b0; p < b1;)
                {
                    int n;
                    float* c;
                    long ldc;
                    if (p < full && fits)
                    {
                        n = full - p >= Wide ? Wide : Narrow;
                        bool whole = mr == MR;
                        c = whole ? y + m * pixels + p : tile;
                        ldc = whole ? pixels : Wide;
                        if (n == Wide) Tile64(channels, panel, x + p, offsets, c, ldc);
                        else Tile16(channels, panel, x + p, offsets, c, ldc);
                    }
                    else
                    {
                        // The last pixels (or every pixel when plane offsets overflow int): a zero-padded copy.
                        n = (int)Math.Min(Narrow, b1 - p);
                        for (int ch = 0; ch < channels; ch++)
                        {
                            float* row = tail + ch * Narrow;
                            new ReadOnlySpan<float>(x + ch * pixels + p, n).CopyTo(new Span<float>(row, n));
                            new Span<float>(row + n, Narrow - n).Clear();
                            tailOffsets[ch] = ch * Narrow;
                        }
                        c = tile;
                        ldc = Wide;
                        Tile16(channels, panel, tail, tailOffsets, c, ldc);
                        for (int ch = 0; ch < channels; ch++) offsets[ch] = (int)(ch * pixels);
                    }
                    if (c == tile)
                        for (int i = 0; i < mr; i++)
                            new ReadOnlySpan<float>(tile + i * Wide, n).CopyTo(new Span<float>(y + (m + i) * pixels + p, n));
                    p += n;
                }
            }
            // The epilogue once per block (still in L1), not per tile: with a shallow depth its per-call cost rivals the tile's.
            epilogue.Apply(0, b0, filters, (int)(b1 - b0), y + b0, pixels);
        }
    }

    /// <summary>Copies input rows [r0·SH − PH, …) of every channel into the band (by phase), zero outside the input.</summary>
    private static void FillBand(float* x, in ConvGeometry g, int channels, int r0, int inRows, int width, long phasePlane, float* band)
    {
        long plane = (long)g.InH * g.InW;
        for (int c = 0; c < channels; c++)
            PaddedPhases.Fill(x + c * plane, g.InH, g.InW, g.PadW, g.SW, r0 * g.SH - g.PadH, inRows, width, phasePlane, band + c * g.SW * phasePlane);
    }

    /// <summary>6 × 64 of C = Σ_k a[k·6 + r] · b[offsets[k] + j] (full depth, no accumulation into C).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile64(int depth, float* a, float* b, int* offsets, float* c, long ldc)
    {
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        Vector512<float> c40 = default, c41 = default, c42 = default, c43 = default;
        Vector512<float> c50 = default, c51 = default, c52 = default, c53 = default;
        for (int k = 0; k < depth; k++)
        {
            float* p = b + offsets[k];
            var v0 = Avx512F.LoadVector512(p);
            var v1 = Avx512F.LoadVector512(p + 16);
            var v2 = Avx512F.LoadVector512(p + 32);
            var v3 = Avx512F.LoadVector512(p + 48);
            var s = Vector512.Create(a[0]);
            c00 = Avx512F.FusedMultiplyAdd(s, v0, c00); c01 = Avx512F.FusedMultiplyAdd(s, v1, c01);
            c02 = Avx512F.FusedMultiplyAdd(s, v2, c02); c03 = Avx512F.FusedMultiplyAdd(s, v3, c03);
            s = Vector512.Create(a[1]);
            c10 = Avx512F.FusedMultiplyAdd(s, v0, c10); c11 = Avx512F.FusedMultiplyAdd(s, v1, c11);
            c12 = Avx512F.FusedMultiplyAdd(s, v2, c12); c13 = Avx512F.FusedMultiplyAdd(s, v3, c13);
            s = Vector512.Create(a[2]);
            c20 = Avx512F.FusedMultiplyAdd(s, v0, c20); c21 = Avx512F.FusedMultiplyAdd(s, v1, c21);
            c22 = Avx512F.FusedMultiplyAdd(s, v2, c22); c23 = Avx512F.FusedMultiplyAdd(s, v3, c23);
            s = Vector512.Create(a[3]);
            c30 = Avx512F.FusedMultiplyAdd(s, v0, c30); c31 = Avx512F.FusedMultiplyAdd(s, v1, c31);
            c32 = Avx512F.FusedMultiplyAdd(s, v2, c32); c33 = Avx512F.FusedMultiplyAdd(s, v3, c33);
            s = Vector512.Create(a[4]);
            c40 = Avx512F.FusedMultiplyAdd(s, v0, c40); c41 = Avx512F.FusedMultiplyAdd(s, v1, c41);
            c42 = Avx512F.FusedMultiplyAdd(s, v2, c42); c43 = Avx512F.FusedMultiplyAdd(s, v3, c43);
            s = Vector512.Create(a[5]);
            c50 = Avx512F.FusedMultiplyAdd(s, v0, c50); c51 = Avx512F.FusedMultiplyAdd(s, v1, c51);
            c52 = Avx512F.FusedMultiplyAdd(s, v2, c52); c53 = Avx512F.FusedMultiplyAdd(s, v3, c53);
            a += MR;
        }
        Store(c, c00, c01, c02, c03);
        Store(c + ldc, c10, c11, c12, c13);
        Store(c + 2 * ldc, c20, c21, c22, c23);
        Store(c + 3 * ldc, c30, c31, c32, c33);
        Store(c + 4 * ldc, c40, c41, c42, c43);
        Store(c + 5 * ldc, c50, c51, c52, c53);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3)
    {
        v0.Store(c);
        v1.Store(c + 16);
        v2.Store(c + 32);
        v3.Store(c + 48);
    }

    /// <summary>
    /// 6 × 16 of C, for row ends and pixel runs narrower than 64. It sums the depth in the same
    /// order as <see cref="Tile64"/> (one chain per row), so a pixel gets the same bits whichever
    /// tile covers it: the workers' chunk boundaries decide that, and both devices must agree.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile16(int depth, float* a, float* b, int* offsets, float* c, long ldc)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        for (int k = 0; k < depth; k++)
        {
            var v = Avx512F.LoadVector512(b + offsets[k]);
            c0 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[0]), v, c0);
            c1 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[1]), v, c1);
            c2 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[2]), v, c2);
            c3 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[3]), v, c3);
            c4 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[4]), v, c4);
            c5 = Avx512F.FusedMultiplyAdd(Vector512.Create(a[5]), v, c5);
            a += MR;
        }
        c0.Store(c);
        c1.Store(c + ldc);
        c2.Store(c + 2 * ldc);
        c3.Store(c + 3 * ldc);
        c4.Store(c + 4 * ldc);
        c5.Store(c + 5 * ldc);
    }
}
