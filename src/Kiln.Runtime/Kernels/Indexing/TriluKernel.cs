using System.Runtime.InteropServices;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Indexing;

/// <summary>
/// The portable "trilu" kernel: Trilu keeps the upper (j − i ≥ k) or lower (j − i ≤ k) triangle of
/// each matrix in the last two axes and zeroes the rest. Each row is one copied run and one
/// cleared run. Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 element dtype · u8 upper · u8 has k
/// </code>
/// Bindings: x, k (one int64, if present; else k = 0), y. Push constants: matrices, rows, columns.
/// </summary>
public sealed unsafe class TriluKernel : Kernel
{
    public const string KernelName = "trilu";
    public const byte Version = 1;
    private const long ChunkWork = 32 * 1024;

    private readonly DType _dtype;
    private readonly bool _upper, _hasK;

    private TriluKernel(DType dtype, bool upper, bool hasK) => (_dtype, _upper, _hasK) = (dtype, upper, hasK);

    public static byte[] Encode(DType dtype, bool upper, bool hasK) => new DescriptorWriter().U8(Version).U8((byte)dtype).U8(upper ? 1 : 0).U8(hasK ? 1 : 0).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Movable, "element");
        bool upper = r.ReadFlag("upper"), hasK = r.ReadFlag("has k");
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, hasK ? 3 : 2, constantCount, 3);
        return new TriluKernel(dtype, upper, hasK);
    }

    public override string Name => KernelName;

    public override void Validate(in DispatchState d)
    {
        long count = DispatchChecks.Product(d.ConstantSpan, KernelName, "tensor size");
        if (_hasK && d.Binding(1).Length != sizeof(long)) throw DispatchChecks.OutOfRange(KernelName, $"k must be one int64, its binding has {d.Binding(1).Length} bytes");
        DispatchChecks.Fits(d, 0, count, _dtype.Size(), KernelName, "the input");
        DispatchChecks.Fits(d, _hasK ? 2 : 1, count, _dtype.Size(), KernelName, "the output");
    }

    private static long RowsPerWorkgroup(long columns) => Math.Max(1, ChunkWork / Math.Max(1, columns));

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        long rows = d.Constant(0) * d.Constant(1), per = RowsPerWorkgroup(d.Constant(2));
        return (d.Constant(2) == 0 ? 0 : (int)Math.Min(int.MaxValue, (rows + per - 1) / per), 1, 1);
    }

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        long rows = d.Constant(1), columns = d.Constant(2);
        long per = RowsPerWorkgroup(columns), first = wg.X * per, last = Math.Min(d.Constant(0) * rows, first + per);
        // Diagonals beyond the matrix act like the nearest one outside it (and cannot overflow below).
        long k = _hasK ? Math.Clamp(*(long*)d.Binding(1).Data, -rows - 1, columns + 1) : 0;
        byte* x = d.Binding(0).Data, y = d.Binding(_hasK ? 2 : 1).Data;
        int size = _dtype.Size();
        for (long row = first; row < last; row++)
        {
            long i = row % rows;
            // Columns [0, split) and [split, columns): upper keeps the second part, lower the first.
            long split = Math.Clamp(_upper ? i + k : i + k + 1, 0, columns);
            long keepFrom = _upper ? split : 0, keepTo = _upper ? columns : split;
            byte* src = x + row * columns * size, dst = y + row * columns * size;
            NativeMemory.Clear(dst, (nuint)(keepFrom * size));
            Buffer.MemoryCopy(src + keepFrom * size, dst + keepFrom * size, (keepTo - keepFrom) * size, (keepTo - keepFrom) * size);
            NativeMemory.Clear(dst + keepTo * size, (nuint)((columns - keepTo) * size));
        }
    }
}
