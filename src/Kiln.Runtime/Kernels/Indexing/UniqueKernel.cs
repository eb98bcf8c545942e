using System.Numerics;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Indexing;

/// <summary>
/// The portable "unique" kernel: Unique. x is seen as [outer, rows, inner]; row j is the slice of
/// outer·inner elements at position j of the axis, compared lexicographically (NaN below every
/// number and equal to NaN, as the reference evaluator orders them). The distinct rows come in
/// ascending order, or (sorted = 0) in order of first occurrence. The number of distinct rows u
/// depends on the data, so results go to buffers sized for rows: y [outer, rows, inner] (the
/// first u rows of the axis hold the distinct slices), first [rows] (each one's first position),
/// counts [rows] (how often it occurs); inverse [rows] maps each row to its distinct row; count
/// gets u. Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 element dtype (numeric) · u8 sorted (0/1)
/// </code>
/// Bindings: x, y, first, inverse, counts, count (one int64). Push constants: outer, rows, inner.
/// One workgroup. Immutable after load; thread-safe.
/// </summary>
public sealed unsafe class UniqueKernel : Kernel
{
    public const string KernelName = "unique";
    public const byte Version = 1;

    private readonly DType _dtype;
    private readonly bool _sorted;

    private UniqueKernel(DType dtype, bool sorted) => (_dtype, _sorted) = (dtype, sorted);

    public static byte[] Encode(DType dtype, bool sorted) => new DescriptorWriter().U8(Version).U8((byte)dtype).U8(sorted ? 1 : 0).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Numeric, "element");
        bool sorted = r.ReadFlag("sorted");
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 6, constantCount, 3);
        return new UniqueKernel(dtype, sorted);
    }

    public override string Name => KernelName;

    public override void Validate(in DispatchState d)
    {
        long outer = d.Constant(0), rows = d.Constant(1), inner = d.Constant(2);
        long n = DispatchChecks.Product([outer, rows, inner], KernelName, "input size");
        // The kernel holds the rows in managed arrays.
        if (n > int.MaxValue / 8 || rows > int.MaxValue / 8) throw DispatchChecks.OutOfRange(KernelName, $"an input of {n} elements is too large");
        DispatchChecks.Fits(d, 0, n, _dtype.Size(), KernelName, "the input");
        DispatchChecks.Fits(d, 1, n, _dtype.Size(), KernelName, "the distinct slices");
        for (int b = 2; b <= 4; b++) DispatchChecks.Fits(d, b, rows, sizeof(long), KernelName, "a per-row result");
        if (d.Binding(5).Length != sizeof(long)) throw DispatchChecks.OutOfRange(KernelName, $"count must be one int64, its binding has {d.Binding(5).Length} bytes");
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) => (1, 1, 1);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        switch (_dtype)
        {
            case DType.UInt64: Run<ulong>(d); break;
            case DType.Float32 or DType.Float64 or DType.Float16 or DType.BFloat16: Run<double>(d); break;
            default: Run<long>(d); break;
        }
    }

    private void Run<T>(in DispatchState d) where T : unmanaged, INumber<T>
    {
        int outer = (int)d.Constant(0), rows = (int)d.Constant(1), inner = (int)d.Constant(2);
        int width = outer * inner, size = _dtype.Size();
        byte* x = d.Binding(0).Data, y = d.Binding(1).Data;
        long* first = (long*)d.Binding(2).Data, inverse = (long*)d.Binding(3).Data, counts = (long*)d.Binding(4).Data;

        // Row j's elements, contiguous: keys[j * width + o * inner + i] = x[o, j, i].
        var keys = new T[(long)rows * width];
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < rows; j++)
                ElementRows.Load(_dtype, x + ((long)o * rows + j) * inner * size, inner, keys.AsSpan(j * width + o * inner, inner))
                    .CopyTo(keys.AsSpan(j * width + o * inner, inner));

        int Compare(int a, int b)
        {
            for (int k = 0; k < width; k++)
            {
                int c = keys[a * width + k].CompareTo(keys[b * width + k]);
                if (c != 0) return c;
            }
            return 0;
        }

        // Rows by value, equal rows by position: each group's first row is its first occurrence.
        var order = new int[rows];
        for (int j = 0; j < rows; j++) order[j] = j;
        Array.Sort(order, (a, b) => Compare(a, b) is var c && c != 0 ? c : a.CompareTo(b));
        var groupStart = new List<int>();
        for (int k = 0; k < rows; k++)
            if (k == 0 || Compare(order[groupStart[^1]], order[k]) != 0) groupStart.Add(k);

        // Groups in output order: by value, or by first occurrence.
        var groups = Enumerable.Range(0, groupStart.Count).ToArray();
        if (!_sorted) Array.Sort(groups, (a, b) => order[groupStart[a]].CompareTo(order[groupStart[b]]));
        for (int u = 0; u < groups.Length; u++)
        {
            int g = groups[u], start = groupStart[g], end = g + 1 < groupStart.Count ? groupStart[g + 1] : rows;
            int row = order[start];
            first[u] = row;
            counts[u] = end - start;
            for (int k = start; k < end; k++) inverse[order[k]] = u;
            for (int o = 0; o < outer; o++)
                Buffer.MemoryCopy(x + ((long)o * rows + row) * inner * size, y + ((long)o * rows + u) * inner * size, (long)inner * size, (long)inner * size);
        }
        *(long*)d.Binding(5).Data = groups.Length;
    }
}
