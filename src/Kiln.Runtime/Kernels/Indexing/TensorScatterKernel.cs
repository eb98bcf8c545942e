using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Indexing;

/// <summary>
/// The portable "tensor-scatter" kernel: TensorScatter (a KV-cache update) into a result that
/// already holds a copy of the cache. For batch entry b, the update's positions along the
/// sequence axis are written from write_indices[b] on (0 without indices), wrapping around the
/// cache in circular mode; in linear mode they must fit. Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 element dtype · u8 rank (2..8) · u8 axis (≥ 1) · u8 circular · u8 has write indices
/// </code>
/// Bindings: write indices (int64 [batch], if present), update, result. Push constants: the
/// cache dims, then the update's length along the axis. Batch entries run in parallel (they write
/// disjoint parts).
/// </summary>
public sealed unsafe class TensorScatterKernel : Kernel
{
    public const string KernelName = "tensor-scatter";
    public const byte Version = 1;

    private readonly DType _dtype;
    private readonly int _rank, _axis;
    private readonly bool _circular, _hasIndices;

    private TensorScatterKernel(DType dtype, int rank, int axis, bool circular, bool hasIndices) =>
        (_dtype, _rank, _axis, _circular, _hasIndices) = (dtype, rank, axis, circular, hasIndices);

    public static byte[] Encode(DType dtype, int rank, int axis, bool circular, bool hasIndices) =>
        new DescriptorWriter().U8(Version).U8((byte)dtype).U8(rank).U8(axis).U8(circular ? 1 : 0).U8(hasIndices ? 1 : 0).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Movable, "element");
        int rank = r.ReadRank();
        if (rank < 2) throw r.Invalid("the cache needs rank 2 or more");
        int axis = r.ReadAxis(rank);
        if (axis == 0) throw r.Invalid("the sequence axis cannot be the batch axis");
        bool circular = r.ReadFlag("circular"), hasIndices = r.ReadFlag("has write indices");
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, hasIndices ? 3 : 2, constantCount, rank + 1);
        return new TensorScatterKernel(dtype, rank, axis, circular, hasIndices);
    }

    public override string Name => KernelName;

    /// <summary>Batch entries, runs per entry, cache capacity and update length along the axis, elements per position.</summary>
    private (long Batch, long Outer, long Capacity, long Length, long Inner) Layout(in DispatchState d)
    {
        var dims = d.ConstantSpan[.._rank];
        var lanes = AxisLanes.Of(dims, _axis, KernelName);
        long length = DispatchChecks.Size(d.Constant(_rank), KernelName, "update length");
        if (length > lanes.Length) throw DispatchChecks.OutOfRange(KernelName, $"an update of {length} positions does not fit a cache of {lanes.Length}");
        long batch = dims[0];
        return (batch, batch == 0 ? 0 : lanes.Outer / batch, lanes.Length, length, lanes.Inner);
    }

    public override void Validate(in DispatchState d)
    {
        var (batch, outer, capacity, length, inner) = Layout(d);
        int first = _hasIndices ? 1 : 0;
        if (_hasIndices) DispatchChecks.Fits(d, 0, batch, sizeof(long), KernelName, "write indices");
        DispatchChecks.Fits(d, first, DispatchChecks.Product([batch, outer, length, inner], KernelName, "update size"), _dtype.Size(), KernelName, "the update");
        DispatchChecks.Fits(d, first + 1, DispatchChecks.Product([batch, outer, capacity, inner], KernelName, "cache size"), _dtype.Size(), KernelName, "the result");
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        var (batch, outer, _, length, inner) = Layout(d);
        return (outer * length * inner == 0 ? 0 : (int)Math.Min(int.MaxValue, batch), 1, 1);
    }

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        var (_, outer, capacity, length, inner) = Layout(d);
        long b = wg.X;
        long start = _hasIndices ? ((long*)d.Binding(0).Data)[b] : 0;
        if (start < 0 || (!_circular && start > capacity - length))
            throw DispatchChecks.OutOfRange(KernelName, $"write index {start} of batch entry {b} cannot take {length} positions in a cache of {capacity}");
        int first = _hasIndices ? 1 : 0;
        byte* update = d.Binding(first).Data, result = d.Binding(first + 1).Data;
        long rowBytes = inner * _dtype.Size();
        if (_circular) start %= capacity;
        for (long o = 0; o < outer; o++)
            for (long s = 0; s < length; s++)
            {
                long position = _circular ? (start + s) % capacity : start + s;
                Buffer.MemoryCopy(update + ((b * outer + o) * length + s) * rowBytes, result + ((b * outer + o) * capacity + position) * rowBytes, rowBytes, rowBytes);
            }
    }
}
