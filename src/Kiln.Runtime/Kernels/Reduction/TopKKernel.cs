using System.Numerics;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Reduction;

/// <summary>
/// The portable "topk" kernel: the k largest (or smallest) elements of each lane along an axis,
/// best first, with their int64 positions; equal values keep position order and NaN counts as
/// larger than every number (numpy's order). Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 dtype · u8 rank (1..8) · u8 axis · u8 largest (0/1)
/// </code>
/// Bindings: x, k (one int64), values, indices. Push constants: the dims of x, then the size of
/// the results along the axis, which k must equal at run time. Each lane's positions are sorted
/// by a total order (value, then position); values are copied bit for bit.
/// </summary>
public sealed unsafe class TopKKernel : Kernel
{
    public const string KernelName = "topk";
    public const byte Version = 1;
    private const long ChunkWork = 64 * 1024;

    private readonly DType _dtype;
    private readonly int _rank, _axis;
    private readonly bool _largest;

    private TopKKernel(DType dtype, int rank, int axis, bool largest) => (_dtype, _rank, _axis, _largest) = (dtype, rank, axis, largest);

    public static byte[] Encode(DType dtype, int rank, int axis, bool largest) =>
        new DescriptorWriter().U8(Version).U8((byte)dtype).U8(rank).U8(axis).U8(largest ? 1 : 0).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Numeric, "input");
        int rank = r.ReadRank();
        if (rank == 0) throw r.Invalid("rank must be at least 1");
        int axis = r.ReadAxis(rank);
        bool largest = r.ReadFlag("largest");
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 4, constantCount, rank + 1);
        return new TopKKernel(dtype, rank, axis, largest);
    }

    public override string Name => KernelName;

    private AxisLanes Lanes(in DispatchState d) => AxisLanes.Of(d.ConstantSpan[.._rank], _axis, KernelName);

    public override void Validate(in DispatchState d)
    {
        var lanes = Lanes(d);
        long k = d.Constant(_rank);
        ref readonly var kBinding = ref d.Binding(1);
        if (kBinding.Length != sizeof(long)) throw DispatchChecks.OutOfRange(KernelName, $"k must be one int64, its binding has {kBinding.Length} bytes");
        long given = *(long*)kBinding.Data;
        if (given != k) throw DispatchChecks.OutOfRange(KernelName, $"k is {given} at run time, but the compiled results hold {k} per lane");
        if (k < 0 || k > lanes.Length) throw DispatchChecks.OutOfRange(KernelName, $"k = {k} is out of range for an axis of size {lanes.Length}");
        if (lanes.Length * (sizeof(long) + sizeof(int)) > int.MaxValue) throw DispatchChecks.OutOfRange(KernelName, $"lanes of {lanes.Length} elements are too long");
        DispatchChecks.Fits(d, 0, lanes.Count, _dtype.Size(), KernelName, "the input");
        DispatchChecks.Fits(d, 2, lanes.LaneCount * k, _dtype.Size(), KernelName, "the values");
        DispatchChecks.Fits(d, 3, lanes.LaneCount * k, sizeof(long), KernelName, "the indices");
    }

    /// <summary>Lanes per workgroup: selecting from a lane costs several passes over it (loading, then comparisons).</summary>
    private static long LanesPerWorkgroup(AxisLanes lanes) => Math.Max(1, ChunkWork / Math.Max(1, lanes.Length * 8));

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        var lanes = Lanes(d);
        if (lanes.LaneCount == 0 || d.Constant(_rank) == 0) return (0, 1, 1);
        long per = LanesPerWorkgroup(lanes);
        return ((int)Math.Min(int.MaxValue, (lanes.LaneCount + per - 1) / per), 1, 1);
    }

    public override int ScratchBytes(in DispatchState d) => (int)(Lanes(d).Length * (sizeof(long) + sizeof(int)));

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        switch (_dtype)
        {
            case DType.UInt64: Run<ulong>(d, wg); break;
            case DType.Float32 or DType.Float64 or DType.Float16 or DType.BFloat16: Run<double>(d, wg); break;
            default: Run<long>(d, wg); break;
        }
    }

    private void Run<T>(in DispatchState d, in WorkgroupState wg) where T : unmanaged, INumber<T>
    {
        var lanes = Lanes(d);
        long k = d.Constant(_rank), per = LanesPerWorkgroup(lanes);
        long first = wg.X * per, last = Math.Min(lanes.LaneCount, first + per);
        int length = (int)lanes.Length, size = _dtype.Size();
        byte* x = d.Binding(0).Data, values = d.Binding(2).Data;
        long* indices = (long*)d.Binding(3).Data;
        var buffer = new Span<T>(wg.Scratch, length);
        var order = new Span<int>(wg.Scratch + length * sizeof(long), length);
        for (long lane = first; lane < last; lane++)
        {
            long outer = lane / lanes.Inner, inner = lane % lanes.Inner;
            byte* src = x + (outer * lanes.Length * lanes.Inner + inner) * size;
            ReadOnlySpan<T> keys;
            if (lanes.Inner == 1) keys = ElementRows.Load(_dtype, src, length, buffer);
            else
            {
                for (int j = 0; j < length; j++) buffer[j] = ElementRows.LoadOne<T>(_dtype, src + j * lanes.Inner * size);
                keys = buffer;
            }
            fixed (T* p = keys)
            {
                var best = Select(new Order<T>(p, _largest), order, (int)k);
                long dst = outer * k * lanes.Inner + inner;
                for (int j = 0; j < k; j++, dst += lanes.Inner)
                {
                    Buffer.MemoryCopy(src + best[j] * lanes.Inner * size, values + dst * size, size, size);
                    indices[dst] = best[j];
                }
            }
        }
    }

    /// <summary>
    /// The positions of the k best elements, best first. A few among many are kept in a heap whose
    /// root is the worst kept (most elements fail one comparison with it); otherwise all are sorted.
    /// </summary>
    private static Span<int> Select<TOrder>(TOrder order, Span<int> positions, int k) where TOrder : IComparer<int>
    {
        int n = positions.Length;
        if (k * 8 >= n)
        {
            for (int j = 0; j < n; j++) positions[j] = j;
            positions.Sort(order);
            return positions[..k];
        }
        var heap = positions[..k];
        for (int j = 0; j < k; j++) heap[j] = j;
        for (int j = k / 2 - 1; j >= 0; j--) SiftDown(heap, j, order);
        for (int j = k; j < n; j++)
            if (k > 0 && order.Compare(j, heap[0]) < 0)
            {
                heap[0] = j;
                SiftDown(heap, 0, order);
            }
        heap.Sort(order);
        return heap;
    }

    /// <summary>Restores the heap property below <paramref name="i"/>: every parent is worse than its children.</summary>
    private static void SiftDown<TOrder>(Span<int> heap, int i, TOrder order) where TOrder : IComparer<int>
    {
        while (true)
        {
            int worst = i, left = 2 * i + 1, right = left + 1;
            if (left < heap.Length && order.Compare(heap[left], heap[worst]) > 0) worst = left;
            if (right < heap.Length && order.Compare(heap[right], heap[worst]) > 0) worst = right;
            if (worst == i) return;
            (heap[i], heap[worst]) = (heap[worst], heap[i]);
            i = worst;
        }
    }

    /// <summary>Best first: by value (NaN above every number), then by position.</summary>
    private readonly struct Order<T>(T* keys, bool largest) : IComparer<int> where T : unmanaged, INumber<T>
    {
        public int Compare(int a, int b)
        {
            T x = keys[a], y = keys[b];
            int c = T.IsNaN(x) ? (T.IsNaN(y) ? 0 : 1) : T.IsNaN(y) ? -1 : x.CompareTo(y);
            if (largest) c = -c;
            return c != 0 ? c : a.CompareTo(b);
        }
    }
}
