using System.Numerics;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Indexing;

/// <summary>
/// The portable "scatter-elements" kernel: ScatterElements into a result that already holds a
/// copy of data: update i lands on i's coordinates with the axis one replaced by indices[i], and
/// replaces (or combines with) the element there. Updates apply in order in one workgroup, so the
/// last of several updates to one place wins. Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 dtype · u8 index dtype (int32/int64) · u8 rank (1..8) · u8 axis · u8 reduction (none, add, mul, max, min)
/// </code>
/// Bindings: indices, updates (the indices' shape), result (data's shape). Push constants: data dims, then indices dims.
/// </summary>
public sealed unsafe class ScatterElementsKernel : Kernel
{
    public const string KernelName = "scatter-elements";
    public const byte Version = 1;

    private readonly DType _dtype, _indexType;
    private readonly int _rank, _axis;
    private readonly ScatterReduction _reduction;

    private ScatterElementsKernel(DType dtype, DType indexType, int rank, int axis, ScatterReduction reduction) =>
        (_dtype, _indexType, _rank, _axis, _reduction) = (dtype, indexType, rank, axis, reduction);

    public static byte[] Encode(DType dtype, DType indexType, int rank, int axis, ScatterReduction reduction) =>
        new DescriptorWriter().U8(Version).U8((byte)dtype).U8((byte)indexType).U8(rank).U8(axis).U8((byte)reduction).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Movable, "element");
        var indexType = r.ReadDType(DTypeKind.Index, "index");
        int rank = r.ReadRank();
        if (rank == 0) throw r.Invalid("rank must be at least 1");
        int axis = r.ReadAxis(rank);
        var reduction = ScatterUpdates.Read(ref r, dtype);
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 3, constantCount, 2 * rank);
        return new ScatterElementsKernel(dtype, indexType, rank, axis, reduction);
    }

    public override string Name => KernelName;

    public override void Validate(in DispatchState d)
    {
        var dataDims = d.ConstantSpan[.._rank];
        var indexDims = d.ConstantSpan[_rank..];
        for (int i = 0; i < _rank; i++)
            if (i != _axis && DispatchChecks.Size(indexDims[i], KernelName, "index dimension") > dataDims[i])
                throw DispatchChecks.OutOfRange(KernelName, $"indices dimension {i} ({indexDims[i]}) exceeds data's ({dataDims[i]})");
        long count = DispatchChecks.Product(indexDims, KernelName, "update count");
        DispatchChecks.Fits(d, 0, count, _indexType.Size(), KernelName, "indices");
        DispatchChecks.Fits(d, 1, count, _dtype.Size(), KernelName, "updates");
        DispatchChecks.Fits(d, 2, DispatchChecks.Product(dataDims, KernelName, "data size"), _dtype.Size(), KernelName, "the result");
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        foreach (long n in d.ConstantSpan[_rank..]) if (n == 0) return (0, 1, 1);
        return (1, 1, 1);
    }

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        var visitor = new Scatter(this, d);
        ScatterUpdates.Dispatch(_dtype, _reduction, ref visitor);
    }

    private readonly struct Scatter(ScatterElementsKernel k, DispatchState d) : ScatterUpdates.IVisitor
    {
        public void Visit<T>() where T : unmanaged, INumber<T>
        {
            var dataDims = d.ConstantSpan[..k._rank];
            // The indices' space with data's strides off the axis; the axis coordinate comes from the index.
            var space = new Blocks();
            Span<long> strides = stackalloc long[k._rank];
            long stride = 1;
            for (int i = k._rank - 1; i >= 0; i--) { strides[i] = stride; stride *= dataDims[i]; }
            for (int i = 0; i < k._rank; i++) space.Add(d.Constant(k._rank + i), i == k._axis ? 0 : strides[i]);
            byte* indices = d.Binding(0).Data;
            T* updates = (T*)d.Binding(1).Data, result = (T*)d.Binding(2).Data;
            long count = space.Product, axisSize = dataDims[k._axis], axisStride = strides[k._axis];
            var position = Odometer.At(space, 0);
            for (long i = 0; i < count; i++, position.Advance(space))
            {
                long at = IndexValues.Resolve(IndexValues.Read(k._indexType, indices, i), axisSize, KernelName);
                ScatterUpdates.Apply(k._reduction, result + position.Offset + at * axisStride, updates + i, 1);
            }
        }
    }
}
