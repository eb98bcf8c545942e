using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Indexing;

/// <summary>
/// The portable "onehot" kernel: OneHot. The result is [outer, depth, inner] around the new axis;
/// element (o, d, i) is values[1] where indices[o, i] (truncated to an integer, negative counting
/// from the end) equals d, and values[0] elsewhere; indices out of range leave their lane "off".
/// Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 index dtype (numeric) · u8 depth dtype (numeric) · u8 element dtype
/// </code>
/// Bindings: indices, depth (one element), values (two elements), result. Push constants: outer,
/// depth, inner — the depth the result was compiled for, which the depth operand must match.
/// </summary>
public sealed unsafe class OneHotKernel : Kernel
{
    public const string KernelName = "onehot";
    public const byte Version = 1;
    private const long ChunkWork = 32 * 1024;

    private readonly DType _indexType, _depthType, _dtype;

    private OneHotKernel(DType indexType, DType depthType, DType dtype) => (_indexType, _depthType, _dtype) = (indexType, depthType, dtype);

    public static byte[] Encode(DType indexType, DType depthType, DType dtype) =>
        new DescriptorWriter().U8(Version).U8((byte)indexType).U8((byte)depthType).U8((byte)dtype).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var indexType = r.ReadDType(DTypeKind.Numeric, "index");
        var depthType = r.ReadDType(DTypeKind.Numeric, "depth");
        var dtype = r.ReadDType(DTypeKind.Movable, "element");
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 4, constantCount, 3);
        return new OneHotKernel(indexType, depthType, dtype);
    }

    public override string Name => KernelName;

    public override void Validate(in DispatchState d)
    {
        long outer = d.Constant(0), depth = d.Constant(1), inner = d.Constant(2);
        ref readonly var depthBinding = ref d.Binding(1);
        if (depthBinding.Length != _depthType.Size()) throw DispatchChecks.OutOfRange(KernelName, $"depth must hold one value, its binding has {depthBinding.Length} bytes");
        long given = (long)ElementRows.LoadOne<double>(_depthType, depthBinding.Data);
        if (given != depth) throw DispatchChecks.OutOfRange(KernelName, $"depth is {given} at run time, but the result was compiled for {depth}");
        if (depth < 1) throw DispatchChecks.OutOfRange(KernelName, $"depth {depth} must be positive");
        DispatchChecks.Fits(d, 0, DispatchChecks.Product([outer, inner], KernelName, "index count"), _indexType.Size(), KernelName, "indices");
        DispatchChecks.Fits(d, 2, 2, _dtype.Size(), KernelName, "values");
        DispatchChecks.Fits(d, 3, DispatchChecks.Product([outer, depth, inner], KernelName, "result size"), _dtype.Size(), KernelName, "the result");
    }

    private static long OuterPerWorkgroup(long depth, long inner) => Math.Max(1, ChunkWork / Math.Max(1, depth * inner));

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        long outer = d.Constant(0), per = OuterPerWorkgroup(d.Constant(1), d.Constant(2));
        return (d.Constant(2) == 0 ? 0 : (int)Math.Min(int.MaxValue, (outer + per - 1) / per), 1, 1);
    }

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        long outer = d.Constant(0), depth = d.Constant(1), inner = d.Constant(2);
        long per = OuterPerWorkgroup(depth, inner), first = wg.X * per, last = Math.Min(outer, first + per);
        byte* indices = d.Binding(0).Data, values = d.Binding(2).Data, result = d.Binding(3).Data;
        int size = _dtype.Size(), indexSize = _indexType.Size();
        for (long o = first; o < last; o++)
        {
            byte* block = result + o * depth * inner * size;
            for (long e = 0; e < depth * inner; e++) IndexValues.CopyElement(values, block + e * size, size);
            for (long i = 0; i < inner; i++)
            {
                long index = (long)ElementRows.LoadOne<double>(_indexType, indices + (o * inner + i) * indexSize);
                if (index < 0) index += depth;
                if (index >= 0 && index < depth) IndexValues.CopyElement(values + size, block + (index * inner + i) * size, size);
            }
        }
    }
}
