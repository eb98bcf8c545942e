using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Indexing;

/// <summary>
/// The portable "gather-nd" kernel: GatherND. indices is [batch..., tuples..., k]; each k-tuple
/// names a slice data[b..., i0, ..., ik-1, ...] of the data, copied to the result in tuple order.
/// Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 element dtype · u8 index dtype (int32/int64) · u8 data rank (1..8) · u8 indices rank (1..8) · u8 batch_dims
/// </code>
/// Bindings: data, indices, result. Push constants: data dims, then indices dims.
/// </summary>
public sealed unsafe class GatherNDKernel : Kernel
{
    public const string KernelName = "gather-nd";
    public const byte Version = 1;
    private const long ChunkWork = 32 * 1024;

    private readonly DType _dtype, _indexType;
    private readonly int _dataRank, _indexRank, _batchDims;

    private GatherNDKernel(DType dtype, DType indexType, int dataRank, int indexRank, int batchDims) =>
        (_dtype, _indexType, _dataRank, _indexRank, _batchDims) = (dtype, indexType, dataRank, indexRank, batchDims);

    public static byte[] Encode(DType dtype, DType indexType, int dataRank, int indexRank, int batchDims) =>
        new DescriptorWriter().U8(Version).U8((byte)dtype).U8((byte)indexType).U8(dataRank).U8(indexRank).U8(batchDims).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Movable, "element");
        var indexType = r.ReadDType(DTypeKind.Index, "index");
        int dataRank = r.ReadRank(), indexRank = r.ReadRank();
        int batchDims = r.U8();
        if (batchDims >= Math.Min(dataRank, indexRank)) throw r.Invalid($"batch_dims {batchDims} must be below both ranks ({dataRank}, {indexRank})");
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 3, constantCount, dataRank + indexRank);
        return new GatherNDKernel(dtype, indexType, dataRank, indexRank, batchDims);
    }

    public override string Name => KernelName;

    /// <summary>Tuple length k, tuples in all, tuples per batch entry, and the elements of one slice.</summary>
    private (int K, long Tuples, long PerBatch, long SliceLength) Layout(in DispatchState d)
    {
        var dataDims = d.ConstantSpan[.._dataRank];
        var indexDims = d.ConstantSpan[_dataRank..];
        long k = indexDims[^1];
        if (k < 1 || _batchDims + k > _dataRank) throw DispatchChecks.OutOfRange(KernelName, $"index tuples of length {k} with batch_dims {_batchDims} do not fit data of rank {_dataRank}");
        for (int i = 0; i < _batchDims; i++)
            if (indexDims[i] != dataDims[i]) throw DispatchChecks.OutOfRange(KernelName, $"batch dimension {i} differs: indices {indexDims[i]}, data {dataDims[i]}");
        long tuples = DispatchChecks.Product(indexDims[..^1], KernelName, "tuple count");
        long batches = DispatchChecks.Product(indexDims[.._batchDims], KernelName, "batch count");
        long slice = DispatchChecks.Product(dataDims[(_batchDims + (int)k)..], KernelName, "slice size");
        return ((int)k, tuples, batches == 0 ? 0 : tuples / batches, slice);
    }

    public override void Validate(in DispatchState d)
    {
        var (k, tuples, _, slice) = Layout(d);
        DispatchChecks.Fits(d, 0, DispatchChecks.Product(d.ConstantSpan[.._dataRank], KernelName, "data size"), _dtype.Size(), KernelName, "data");
        DispatchChecks.Fits(d, 1, DispatchChecks.Multiply(tuples, k, KernelName, "index count"), _indexType.Size(), KernelName, "indices");
        DispatchChecks.Fits(d, 2, DispatchChecks.Multiply(tuples, slice, KernelName, "result size"), _dtype.Size(), KernelName, "the result");
    }

    private static long TuplesPerWorkgroup(long slice) => Math.Max(1, ChunkWork / Math.Max(1, slice));

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        var (_, tuples, _, slice) = Layout(d);
        long per = TuplesPerWorkgroup(slice);
        return (slice == 0 ? 0 : (int)Math.Min(int.MaxValue, (tuples + per - 1) / per), 1, 1);
    }

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        var (k, tuples, perBatch, slice) = Layout(d);
        var dataDims = d.ConstantSpan[.._dataRank];
        Span<long> strides = stackalloc long[_dataRank];
        long stride = 1;
        for (int i = _dataRank - 1; i >= 0; i--) { strides[i] = stride; stride *= dataDims[i]; }
        long batchStride = _batchDims == 0 ? 0 : strides[_batchDims - 1];
        long per = TuplesPerWorkgroup(slice), first = wg.X * per, last = Math.Min(tuples, first + per);
        byte* data = d.Binding(0).Data, indices = d.Binding(1).Data, result = d.Binding(2).Data;
        long sliceBytes = slice * _dtype.Size();
        for (long t = first; t < last; t++)
        {
            long offset = t / perBatch * batchStride;
            for (int j = 0; j < k; j++)
                offset += IndexValues.Resolve(IndexValues.Read(_indexType, indices, t * k + j), dataDims[_batchDims + j], KernelName) * strides[_batchDims + j];
            Buffer.MemoryCopy(data + offset * _dtype.Size(), result + t * sliceBytes, sliceBytes, sliceBytes);
        }
    }
}
