using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Indexing;

/// <summary>
/// The portable "gather" kernel: Gather along one axis. data is seen as [outer, size, inner] and
/// the result as [outer, count, inner]: row (o, n) of inner elements is row (o, indices[n]) of
/// data. Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 element dtype · u8 index dtype (int32/int64)
/// </code>
/// Bindings: data, indices, result. Push constants: outer, size, inner, count.
/// </summary>
public sealed unsafe class GatherKernel : Kernel
{
    public const string KernelName = "gather";
    public const byte Version = 1;
    private const long ChunkWork = 32 * 1024;

    private readonly DType _dtype, _indexType;

    private GatherKernel(DType dtype, DType indexType) => (_dtype, _indexType) = (dtype, indexType);

    public static byte[] Encode(DType dtype, DType indexType) => new DescriptorWriter().U8(Version).U8((byte)dtype).U8((byte)indexType).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Movable, "element");
        var indexType = r.ReadDType(DTypeKind.Index, "index");
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 3, constantCount, 4);
        return new GatherKernel(dtype, indexType);
    }

    public override string Name => KernelName;

    private static (long Outer, long Size, long Inner, long Count) Shape(in DispatchState d) =>
        (d.Constant(0), d.Constant(1), d.Constant(2), d.Constant(3));

    public override void Validate(in DispatchState d)
    {
        var (outer, size, inner, count) = Shape(d);
        DispatchChecks.Fits(d, 0, DispatchChecks.Product([outer, size, inner], KernelName, "data size"), _dtype.Size(), KernelName, "data");
        DispatchChecks.Fits(d, 1, DispatchChecks.Size(count, KernelName, "index count"), _indexType.Size(), KernelName, "indices");
        DispatchChecks.Fits(d, 2, DispatchChecks.Product([outer, count, inner], KernelName, "result size"), _dtype.Size(), KernelName, "the result");
    }

    private static long RowsPerWorkgroup(long inner) => Math.Max(1, ChunkWork / Math.Max(1, inner));

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        var (outer, _, inner, count) = Shape(d);
        long rows = outer * count, per = RowsPerWorkgroup(inner);
        return (rows == 0 || inner == 0 ? 0 : (int)Math.Min(int.MaxValue, (rows + per - 1) / per), 1, 1);
    }

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        var (outer, size, inner, count) = Shape(d);
        long per = RowsPerWorkgroup(inner), first = wg.X * per, last = Math.Min(outer * count, first + per);
        byte* data = d.Binding(0).Data, indices = d.Binding(1).Data, result = d.Binding(2).Data;
        int elementSize = _dtype.Size();
        long rowBytes = inner * elementSize;
        for (long row = first; row < last; row++)
        {
            long o = row / count, n = row % count;
            long picked = IndexValues.Resolve(IndexValues.Read(_indexType, indices, n), size, KernelName);
            Buffer.MemoryCopy(data + (o * size + picked) * rowBytes, result + row * rowBytes, rowBytes, rowBytes);
        }
    }
}
