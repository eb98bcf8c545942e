using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Indexing;

/// <summary>
/// The portable "gather-elements" kernel: result[i] = data[i with its axis coordinate replaced by
/// indices[i]], over the indices' shape (which may be smaller than data's off the axis).
/// Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 element dtype · u8 index dtype (int32/int64) · u8 rank (1..8) · u8 axis
/// </code>
/// Bindings: data, indices, result (the indices' shape). Push constants: data dims, then indices dims.
/// </summary>
public sealed unsafe class GatherElementsKernel : Kernel
{
    public const string KernelName = "gather-elements";
    public const byte Version = 1;
    private const long ChunkWork = 32 * 1024;

    private readonly DType _dtype, _indexType;
    private readonly int _rank, _axis;

    private GatherElementsKernel(DType dtype, DType indexType, int rank, int axis) => (_dtype, _indexType, _rank, _axis) = (dtype, indexType, rank, axis);

    public static byte[] Encode(DType dtype, DType indexType, int rank, int axis) =>
        new DescriptorWriter().U8(Version).U8((byte)dtype).U8((byte)indexType).U8(rank).U8(axis).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Movable, "element");
        var indexType = r.ReadDType(DTypeKind.Index, "index");
        int rank = r.ReadRank();
        if (rank == 0) throw r.Invalid("rank must be at least 1");
        int axis = r.ReadAxis(rank);
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 3, constantCount, 2 * rank);
        return new GatherElementsKernel(dtype, indexType, rank, axis);
    }

    public override string Name => KernelName;

    public override void Validate(in DispatchState d)
    {
        var dataDims = d.ConstantSpan[.._rank];
        var indexDims = d.ConstantSpan[_rank..];
        for (int i = 0; i < _rank; i++)
            if (i != _axis && DispatchChecks.Size(indexDims[i], KernelName, "index dimension") > dataDims[i])
                throw DispatchChecks.OutOfRange(KernelName, $"indices dimension {i} ({indexDims[i]}) exceeds data's ({dataDims[i]})");
        long count = DispatchChecks.Product(indexDims, KernelName, "index count");
        DispatchChecks.Fits(d, 0, DispatchChecks.Product(dataDims, KernelName, "data size"), _dtype.Size(), KernelName, "data");
        DispatchChecks.Fits(d, 1, count, _indexType.Size(), KernelName, "indices");
        DispatchChecks.Fits(d, 2, count, _dtype.Size(), KernelName, "the result");
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        long count = 1;
        foreach (long n in d.ConstantSpan[_rank..]) count *= n;
        return ((int)Math.Min(int.MaxValue, (count + ChunkWork - 1) / ChunkWork), 1, 1);
    }

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        var dataDims = d.ConstantSpan[.._rank];
        // The indices' space with data's strides off the axis (the axis coordinate comes from the index).
        var space = new Blocks();
        long stride = 1, axisStride = 1;
        Span<long> strides = stackalloc long[_rank];
        for (int i = _rank - 1; i >= 0; i--) { strides[i] = stride; stride *= dataDims[i]; }
        for (int i = 0; i < _rank; i++)
        {
            space.Add(d.Constant(_rank + i), i == _axis ? 0 : strides[i]);
            if (i == _axis) axisStride = strides[i];
        }
        long count = space.Product, first = wg.X * ChunkWork, last = Math.Min(count, first + ChunkWork);
        byte* data = d.Binding(0).Data, indices = d.Binding(1).Data, result = d.Binding(2).Data;
        int size = _dtype.Size();
        long axisSize = dataDims[_axis];
        var position = Odometer.At(space, first);
        for (long i = first; i < last; i++, position.Advance(space))
        {
            long picked = IndexValues.Resolve(IndexValues.Read(_indexType, indices, i), axisSize, KernelName);
            IndexValues.CopyElement(data + (position.Offset + picked * axisStride) * size, result + i * size, size);
        }
    }
}
