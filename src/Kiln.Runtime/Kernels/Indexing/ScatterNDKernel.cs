using System.Numerics;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Indexing;

/// <summary>
/// The portable "scatter-nd" kernel: ScatterND into a result that already holds a copy of data.
/// indices is [tuples..., k]; each k-tuple names a slice data[i0, ..., ik-1, ...] that the matching
/// slice of updates replaces (or combines into). Updates apply in order in one workgroup.
/// Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 dtype · u8 index dtype (int32/int64) · u8 data rank (1..8) · u8 indices rank (1..8) · u8 reduction
/// </code>
/// Bindings: indices, updates ([tuples..., slice...]), result. Push constants: data dims, then indices dims.
/// </summary>
public sealed unsafe class ScatterNDKernel : Kernel
{
    public const string KernelName = "scatter-nd";
    public const byte Version = 1;

    private readonly DType _dtype, _indexType;
    private readonly int _dataRank, _indexRank;
    private readonly ScatterReduction _reduction;

    private ScatterNDKernel(DType dtype, DType indexType, int dataRank, int indexRank, ScatterReduction reduction) =>
        (_dtype, _indexType, _dataRank, _indexRank, _reduction) = (dtype, indexType, dataRank, indexRank, reduction);

    public static byte[] Encode(DType dtype, DType indexType, int dataRank, int indexRank, ScatterReduction reduction) =>
        new DescriptorWriter().U8(Version).U8((byte)dtype).U8((byte)indexType).U8(dataRank).U8(indexRank).U8((byte)reduction).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Movable, "element");
        var indexType = r.ReadDType(DTypeKind.Index, "index");
        int dataRank = r.ReadRank(), indexRank = r.ReadRank();
        if (dataRank == 0 || indexRank == 0) throw r.Invalid("data and indices need rank 1 or more");
        var reduction = ScatterUpdates.Read(ref r, dtype);
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 3, constantCount, dataRank + indexRank);
        return new ScatterNDKernel(dtype, indexType, dataRank, indexRank, reduction);
    }

    public override string Name => KernelName;

    private (int K, long Tuples, long Slice) Layout(in DispatchState d)
    {
        var dataDims = d.ConstantSpan[.._dataRank];
        var indexDims = d.ConstantSpan[_dataRank..];
        long k = indexDims[^1];
        if (k < 1 || k > _dataRank) throw DispatchChecks.OutOfRange(KernelName, $"index tuples of length {k} do not fit data of rank {_dataRank}");
        return ((int)k, DispatchChecks.Product(indexDims[..^1], KernelName, "tuple count"), DispatchChecks.Product(dataDims[(int)k..], KernelName, "slice size"));
    }

    public override void Validate(in DispatchState d)
    {
        var (k, tuples, slice) = Layout(d);
        DispatchChecks.Fits(d, 0, DispatchChecks.Multiply(tuples, k, KernelName, "index count"), _indexType.Size(), KernelName, "indices");
        DispatchChecks.Fits(d, 1, DispatchChecks.Multiply(tuples, slice, KernelName, "update count"), _dtype.Size(), KernelName, "updates");
        DispatchChecks.Fits(d, 2, DispatchChecks.Product(d.ConstantSpan[.._dataRank], KernelName, "data size"), _dtype.Size(), KernelName, "the result");
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) =>
        (Layout(d).Tuples == 0 ? 0 : 1, 1, 1);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        var visitor = new Scatter(this, d);
        ScatterUpdates.Dispatch(_dtype, _reduction, ref visitor);
    }

    private readonly struct Scatter(ScatterNDKernel kernel, DispatchState d) : ScatterUpdates.IVisitor
    {
        public void Visit<T>() where T : unmanaged, INumber<T>
        {
            var (k, tuples, slice) = kernel.Layout(d);
            var dataDims = d.ConstantSpan[..kernel._dataRank];
            Span<long> strides = stackalloc long[kernel._dataRank];
            long stride = 1;
            for (int i = kernel._dataRank - 1; i >= 0; i--) { strides[i] = stride; stride *= dataDims[i]; }
            byte* indices = d.Binding(0).Data;
            T* updates = (T*)d.Binding(1).Data, result = (T*)d.Binding(2).Data;
            for (long t = 0; t < tuples; t++)
            {
                long offset = 0;
                for (int j = 0; j < k; j++)
                    offset += IndexValues.Resolve(IndexValues.Read(kernel._indexType, indices, t * k + j), dataDims[j], KernelName) * strides[j];
                ScatterUpdates.Apply(kernel._reduction, result + offset, updates + t * slice, slice);
            }
        }
    }
}
