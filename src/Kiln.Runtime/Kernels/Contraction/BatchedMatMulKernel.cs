using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Contraction;

/// <summary>
/// The portable "batched-matmul" kernel: C[b] = A[b] · B[b] for contiguous A [batch, M, K],
/// B [batch, K, N], C [batch, M, N] in float32 or float64 — the contraction Einsum lowers to
/// after its operands are rearranged. A simple kernel: each unit is a column tile of one row of
/// C, accumulated as Σ_k A[b, i, k] · B[b, k, tile] with vector multiply-adds while the tile stays
/// in L1. Descriptor (little-endian): <c>u8 version(1) · u8 dtype</c>. Bindings: A, B, C. Push
/// constants: batch, M, K, N.
/// </summary>
public sealed unsafe class BatchedMatMulKernel : Kernel
{
    public const string KernelName = "batched-matmul";
    public const byte Version = 1;
    private const int Tile = 1024;
    private const long ChunkWork = 64 * 1024;

    private readonly DType _dtype;

    private BatchedMatMulKernel(DType dtype) => _dtype = dtype;

    public static bool Supports(DType dtype) => dtype is DType.Float32 or DType.Float64;

    public static byte[] Encode(DType dtype) => new DescriptorWriter().U8(Version).U8((byte)dtype).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Float, "element");
        if (!Supports(dtype)) throw r.Invalid($"{dtype.Name()} is not float32 or float64");
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 3, constantCount, 4);
        return new BatchedMatMulKernel(dtype);
    }

    public override string Name => KernelName;

    private static (long Batch, long M, long K, long N) Shape(in DispatchState d) => (d.Constant(0), d.Constant(1), d.Constant(2), d.Constant(3));

    public override void Validate(in DispatchState d)
    {
        var (batch, m, k, n) = Shape(d);
        DispatchChecks.Fits(d, 0, DispatchChecks.Product([batch, m, k], KernelName, "A size"), _dtype.Size(), KernelName, "A");
        DispatchChecks.Fits(d, 1, DispatchChecks.Product([batch, k, n], KernelName, "B size"), _dtype.Size(), KernelName, "B");
        DispatchChecks.Fits(d, 2, DispatchChecks.Product([batch, m, n], KernelName, "C size"), _dtype.Size(), KernelName, "C");
    }

    private static (long Units, long TilesPerRow, long PerWorkgroup) Plan(long batch, long m, long k, long n)
    {
        long tiles = (n + Tile - 1) / Tile;
        long work = Math.Max(1, Math.Max(k, 1) * Math.Min(n, Tile));
        return (batch * m * tiles, tiles, Math.Max(1, ChunkWork / work));
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        var (batch, m, k, n) = Shape(d);
        var (units, _, per) = Plan(batch, m, k, n);
        return ((int)Math.Min(int.MaxValue, (units + per - 1) / per), 1, 1);
    }

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        if (_dtype == DType.Float64) Run<double>(d, wg);
        else Run<float>(d, wg);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run<T>(in DispatchState d, in WorkgroupState wg) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (batch, m, k, n) = Shape(d);
        var (units, tilesPerRow, per) = Plan(batch, m, k, n);
        long first = wg.X * per, last = Math.Min(units, first + per);
        T* a = (T*)d.Binding(0).Data, b = (T*)d.Binding(1).Data, c = (T*)d.Binding(2).Data;
        for (long u = first; u < last; u++)
        {
            long row = u / tilesPerRow, j0 = u % tilesPerRow * Tile, bi = row / m;
            int width = (int)Math.Min(Tile, n - j0);
            var acc = new Span<T>(c + row * n + j0, width);
            acc.Clear();
            T* aRow = a + row * k;
            T* bTile = b + bi * k * n + j0;
            for (long kk = 0; kk < k; kk++)
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<T>(bTile + kk * n, width), aRow[kk], acc, acc);
        }
    }
}
