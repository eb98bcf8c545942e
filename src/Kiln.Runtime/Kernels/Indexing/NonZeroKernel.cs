using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Indexing;

/// <summary>
/// The portable "nonzero" kernel: the coordinates of x's nonzero elements (NaN counts as nonzero,
/// −0 as zero), in row-major order, and how many there are. The result's size depends on the data,
/// so the kernel writes into a buffer of the largest possible size: coordinate d of the k-th
/// nonzero element goes to indices[d · capacity + k]; the host program reads the count and copies
/// the first count columns out. Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 element dtype (numeric) · u8 rank (1..8)
/// </code>
/// Bindings: x, indices (int64 [rank, capacity]), count (one int64). Push constants: the dims of x,
/// then capacity (at least x's element count). One workgroup: the scan is sequential.
/// Immutable after load; thread-safe.
/// </summary>
public sealed unsafe class NonZeroKernel : Kernel
{
    public const string KernelName = "nonzero";
    public const byte Version = 1;
    private const int Chunk = 1024;

    private readonly DType _dtype;
    private readonly int _rank;

    private NonZeroKernel(DType dtype, int rank) => (_dtype, _rank) = (dtype, rank);

    public static byte[] Encode(DType dtype, int rank) => new DescriptorWriter().U8(Version).U8((byte)dtype).U8(rank).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Numeric, "element");
        int rank = r.ReadRank();
        if (rank == 0) throw r.Invalid("rank must be at least 1 (a scalar is a one-element vector)");
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 3, constantCount, rank + 1);
        return new NonZeroKernel(dtype, rank);
    }

    public override string Name => KernelName;

    public override void Validate(in DispatchState d)
    {
        long n = DispatchChecks.Product(d.ConstantSpan[.._rank], KernelName, "input size");
        long capacity = DispatchChecks.Size(d.Constant(_rank), KernelName, "capacity");
        if (capacity < n) throw DispatchChecks.OutOfRange(KernelName, $"capacity {capacity} is smaller than the input's {n} elements");
        DispatchChecks.Fits(d, 0, n, _dtype.Size(), KernelName, "the input");
        DispatchChecks.Fits(d, 1, DispatchChecks.Multiply(_rank, capacity, KernelName, "indices"), sizeof(long), KernelName, "the indices");
        if (d.Binding(2).Length != sizeof(long)) throw DispatchChecks.OutOfRange(KernelName, $"count must be one int64, its binding has {d.Binding(2).Length} bytes");
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) => (1, 1, 1);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        var dims = d.ConstantSpan[.._rank];
        long n = 1;
        foreach (long dim in dims) n *= dim;
        long capacity = d.Constant(_rank);
        byte* x = d.Binding(0).Data;
        long* indices = (long*)d.Binding(1).Data;
        Span<long> coordinate = stackalloc long[_rank];
        Span<double> buffer = stackalloc double[Chunk];
        long count = 0;
        int size = _dtype.Size();
        for (long first = 0; first < n; first += Chunk)
        {
            int length = (int)Math.Min(Chunk, n - first);
            // Every nonzero value of every type converts to a nonzero double (NaN included).
            var values = ElementRows.Load(_dtype, x + first * size, length, buffer);
            for (int j = 0; j < length; j++)
            {
                if (values[j] != 0)
                {
                    for (int a = 0; a < _rank; a++) indices[a * capacity + count] = coordinate[a];
                    count++;
                }
                // Advance the row-major coordinate of element first + j.
                for (int a = _rank - 1; a >= 0; a--)
                {
                    if (++coordinate[a] < dims[a]) break;
                    coordinate[a] = 0;
                }
            }
        }
        *(long*)d.Binding(2).Data = count;
    }
}
