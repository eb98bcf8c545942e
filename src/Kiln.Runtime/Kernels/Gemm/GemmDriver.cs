using System.Runtime.CompilerServices;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Gemm;

/// <summary>
/// Where the panels of one GEMM operand come from: packed at compile time (a constant segment),
/// or packed at run time from a strided matrix or an implicit im2col view of a convolution input.
/// Implementations are structs, so the driver is specialized for each pairing (no virtual calls).
/// </summary>
public unsafe interface IPanelSource
{
    /// <summary>Whether <see cref="Panels"/> packs into the caller's buffer (false when the panels already exist).</summary>
    bool PacksAtRunTime { get; }

    /// <summary>
    /// The panels covering lanes [start, start + count) — rows of A or columns of B; start is a
    /// multiple of the panel width — over depths [k0, k0 + kc). Returns the first panel and sets
    /// <paramref name="panelStride"/> to the floats between consecutive panels. A source that packs
    /// writes into <paramref name="buffer"/> (room for count rounded up to whole panels × kc floats).
    /// </summary>
    float* Panels(long start, int count, int k0, int kc, float* buffer, out long panelStride);
}

/// <summary>Panels packed ahead of time (by the compiler) in <see cref="PanelLayout"/>'s layout over the full depth.</summary>
public readonly unsafe struct PrepackedPanels(float* packed, int depth, int lanes) : IPanelSource
{
    public bool PacksAtRunTime => false;

    public float* Panels(long start, int count, int k0, int kc, float* buffer, out long panelStride)
    {
        panelStride = (long)depth * lanes;
        return packed + start / lanes * panelStride + (long)k0 * lanes;
    }
}

/// <summary>A strided A matrix (element (i, k) at a[i·rowStride + k·depthStride]) packed into row panels on demand.</summary>
public readonly unsafe struct StridedRows(float* a, long rowStride, long depthStride) : IPanelSource
{
    public bool PacksAtRunTime => true;

    public float* Panels(long start, int count, int k0, int kc, float* buffer, out long panelStride)
    {
        PanelLayout.PackRows(a + start * rowStride + k0 * depthStride, rowStride, depthStride, count, kc, buffer);
        panelStride = (long)kc * PanelLayout.Rows;
        return buffer;
    }
}

/// <summary>A strided B matrix (element (k, j) at b[k·depthStride + j·columnStride]) packed into column panels on demand.</summary>
public readonly unsafe struct StridedColumns(float* b, long depthStride, long columnStride) : IPanelSource
{
    public bool PacksAtRunTime => true;

    public float* Panels(long start, int count, int k0, int kc, float* buffer, out long panelStride)
    {
        PanelLayout.PackColumns(b + k0 * depthStride + start * columnStride, depthStride, columnStride, count, kc, buffer);
        panelStride = (long)kc * PanelLayout.Columns;
        return buffer;
    }
}

/// <summary>
/// Where a GEMM's results get their epilogue: the epilogue, the dispatch holding its operands,
/// and how this GEMM's rows map onto the result's [batch, row, column] coordinates.
/// </summary>
public readonly unsafe struct EpilogueTarget(Epilogue epilogue, DispatchState dispatch, int firstBinding, int firstConstant, long batch, long rowOffset)
{
    public void Apply(long row, long column, int rows, int columns, float* c, long ldc) =>
        epilogue.Apply(dispatch, firstBinding, firstConstant, batch, rowOffset + row, column, rows, columns, c, ldc);
}

/// <summary>
/// The blocked GEMM loop nest (BLIS order): column blocks of B, depth blocks, row blocks of A, then
/// microkernel tiles — a B panel stays in L1 while the A panels of a row block stream past it
/// from L2. After the last depth block of each output block the epilogue runs on it while it is
/// still in cache. Stateless; thread-safe.
/// </summary>
public static unsafe class GemmDriver
{
    /// <summary>KC: depth per block (measured best on Zen 5 with the 6x64 tile: 512 gave 193 GFLOP/s at n = 1024, 256 gave 178).</summary>
    public const int DepthBlock = 512;
    /// <summary>MC: rows of A packed at once (a multiple of the panel height).</summary>
    public const int RowBlock = 96;
    /// <summary>NC: columns of B packed at once (a multiple of the panel width).</summary>
    public const int ColumnBlock = 512;

    /// <summary>Scratch floats the driver needs for sources that pack at run time, for runs of at most <paramref name="columns"/> columns.</summary>
    public static long ScratchFloats(bool packsA, bool packsB, long columns = ColumnBlock) =>
        (packsA ? (long)RowBlock * DepthBlock : 0) + (packsB ? (long)DepthBlock * BColumns(columns) : 0);

    /// <summary>Columns of the B packing buffer: a column block, or fewer for narrow runs.</summary>
    private static long BColumns(long columns) => Math.Min(ColumnBlock, PanelLayout.PanelCount(columns, PanelLayout.Columns) * PanelLayout.Columns);

    /// <summary>
    /// C[i, j] = Σ_k A[i, k]·B[k, j] for rows [row0, row0 + rows) and columns [column0, column0 + columns),
    /// then the epilogue. C points at element (0, 0) with row stride <paramref name="ldc"/>; row0 is a
    /// multiple of the A panel height and column0 of the B panel width.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<TA, TB>(in TA a, in TB b, long row0, int rows, long column0, int columns, int depth,
        float* c, long ldc, in EpilogueTarget epilogue, float* scratch)
        where TA : struct, IPanelSource where TB : struct, IPanelSource
    {
        if (rows <= 0 || columns <= 0) return;
        float* bufferB = scratch;
        float* bufferA = scratch + (b.PacksAtRunTime ? DepthBlock * BColumns(columns) : 0);
        if (depth == 0)
        {
            for (int i = 0; i < rows; i++) new Span<float>(c + (row0 + i) * ldc + column0, columns).Clear();
            epilogue.Apply(row0, column0, rows, columns, c + row0 * ldc + column0, ldc);
            return;
        }
        for (int jc = 0; jc < columns; jc += ColumnBlock)
        {
            int nc = Math.Min(ColumnBlock, columns - jc);
            for (int pc = 0; pc < depth; pc += DepthBlock)
            {
                int kc = Math.Min(DepthBlock, depth - pc);
                bool accumulate = pc > 0;
                float* bp = b.Panels(column0 + jc, nc, pc, kc, bufferB, out long bStride);
                for (int ic = 0; ic < rows; ic += RowBlock)
                {
                    int mc = Math.Min(RowBlock, rows - ic);
                    float* ap = a.Panels(row0 + ic, mc, pc, kc, bufferA, out long aStride);
                    float* cBlock = c + (row0 + ic) * ldc + column0 + jc;
                    // Full row panels against four B panels at once where the wide tile runs; the rest tile by tile.
                    int jr = 0, fullRows = mc - mc % PanelLayout.Rows;
                    if (Microkernel.UsesAvx512)
                        for (; jr + Microkernel.WideColumns <= nc; jr += Microkernel.WideColumns)
                        {
                            float* bPanel = bp + jr / PanelLayout.Columns * bStride;
                            for (int ir = 0; ir < fullRows; ir += PanelLayout.Rows)
                                Microkernel.WideTile(kc, ap + ir / PanelLayout.Rows * aStride, bPanel, bStride, cBlock + ir * ldc + jr, ldc, accumulate);
                            for (int j = 0; j < Microkernel.WidePanels && fullRows < mc; j++)
                                Microkernel.EdgeTile(kc, ap + fullRows / PanelLayout.Rows * aStride, bPanel + j * bStride,
                                    cBlock + fullRows * ldc + jr + j * PanelLayout.Columns, ldc, accumulate, mc - fullRows, PanelLayout.Columns);
                        }
                    for (; jr < nc; jr += PanelLayout.Columns)
                    {
                        float* bPanel = bp + jr / PanelLayout.Columns * bStride;
                        int nr = Math.Min(PanelLayout.Columns, nc - jr);
                        for (int ir = 0; ir < mc; ir += PanelLayout.Rows)
                        {
                            float* aPanel = ap + ir / PanelLayout.Rows * aStride;
                            float* tile = cBlock + ir * ldc + jr;
                            int mr = Math.Min(PanelLayout.Rows, mc - ir);
                            if (mr == PanelLayout.Rows && nr == PanelLayout.Columns) Microkernel.Tile(kc, aPanel, bPanel, tile, ldc, accumulate);
                            else Microkernel.EdgeTile(kc, aPanel, bPanel, tile, ldc, accumulate, mr, nr);
                        }
                    }
                    if (pc + kc == depth) epilogue.Apply(row0 + ic, column0 + jc, mc, nc, cBlock, ldc);
                }
            }
        }
    }
}
