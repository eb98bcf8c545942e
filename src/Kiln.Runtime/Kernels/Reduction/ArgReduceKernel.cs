using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Reduction;

/// <summary>
/// The portable "argreduce" kernel: ArgMax and ArgMin, the int64 position of each lane's extreme
/// along one axis. Ties go to the first position (or the last, with select_last_index); a NaN
/// wins as soon as it is met, as in numpy. Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 dtype · u8 rank (1..8) · u8 axis · u8 seek max (0/1) · u8 select last (0/1)
/// </code>
/// Bindings: x, y (int64, one value per lane). Push constants: the dims of x. Values compare in
/// float (float16, bfloat16, float32), double, long or ulong, all exact. Lanes along the last axis
/// are scanned in converted tiles; otherwise a tile of neighbouring lanes advances row by row.
/// </summary>
public sealed unsafe class ArgReduceKernel : Kernel
{
    public const string KernelName = "argreduce";
    public const byte Version = 1;
    private const int Tile = 512;
    private const long ChunkWork = 64 * 1024;

    private readonly DType _dtype;
    private readonly int _rank, _axis;
    private readonly bool _seekMax, _selectLast;

    private ArgReduceKernel(DType dtype, int rank, int axis, bool seekMax, bool selectLast)
    {
        (_dtype, _rank, _axis, _seekMax, _selectLast) = (dtype, rank, axis, seekMax, selectLast);
    }

    public static byte[] Encode(DType dtype, int rank, int axis, bool seekMax, bool selectLast) =>
        new DescriptorWriter().U8(Version).U8((byte)dtype).U8(rank).U8(axis).U8(seekMax ? 1 : 0).U8(selectLast ? 1 : 0).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Numeric, "input");
        int rank = r.ReadRank();
        if (rank == 0) throw r.Invalid("rank must be at least 1");
        int axis = r.ReadAxis(rank);
        bool seekMax = r.ReadFlag("seek max"), selectLast = r.ReadFlag("select last");
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 2, constantCount, rank);
        return new ArgReduceKernel(dtype, rank, axis, seekMax, selectLast);
    }

    public override string Name => KernelName;

    private AxisLanes Lanes(in DispatchState d) => AxisLanes.Of(d.ConstantSpan, _axis, KernelName);

    public override void Validate(in DispatchState d)
    {
        var lanes = Lanes(d);
        if (lanes.Length == 0 && lanes.LaneCount > 0) throw DispatchChecks.OutOfRange(KernelName, $"axis {_axis} is empty: there is no extreme to point at");
        if (lanes.Inner > 1 && lanes.Length > 1 << 24 && _dtype is DType.Float32 or DType.Float16 or DType.BFloat16)
            throw DispatchChecks.OutOfRange(KernelName, $"an axis of {lanes.Length} elements is longer than float positions count exactly");
        DispatchChecks.Fits(d, 0, lanes.Count, _dtype.Size(), KernelName, "the input");
        DispatchChecks.Fits(d, 1, lanes.LaneCount, sizeof(long), KernelName, "the output");
    }

    private static LaneWork Work(AxisLanes lanes) => LaneWork.Of(lanes, Tile, ChunkWork);

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) => (Work(Lanes(d)).Workgroups, 1, 1);

    public override int ScratchBytes(in DispatchState d) => 3 * Tile * sizeof(long);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        switch (_dtype)
        {
            case DType.Float32 or DType.Float16 or DType.BFloat16: Run<float>(d, wg); break;
            case DType.Float64: Run<double>(d, wg); break;
            case DType.UInt64: Run<ulong>(d, wg); break;
            default: Run<long>(d, wg); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Run<T>(in DispatchState d, in WorkgroupState wg) where T : unmanaged, INumber<T>
    {
        var lanes = Lanes(d);
        var work = Work(lanes);
        var (first, last) = work.UnitsOf(wg.X);
        byte* x = d.Binding(0).Data;
        long* y = (long*)d.Binding(1).Data;
        int size = _dtype.Size();
        var converted = new Span<T>(wg.Scratch, Tile);
        var best = new Span<T>(wg.Scratch + Tile * sizeof(long), Tile);
        var bestIndex = new Span<long>(wg.Scratch + 2 * Tile * sizeof(long), Tile);
        if (work.ContiguousLanes)
        {
            for (long o = first; o < last; o++) y[o] = ScanLane(x + o * lanes.Length * size, lanes.Length, converted);
            return;
        }
        for (long u = first; u < last; u++)
        {
            var (o, j0, n) = work.TileOf(u);
            byte* lane0 = x + (o * lanes.Length * lanes.Inner + j0) * size;
            ElementRows.Load(_dtype, lane0, n, converted).CopyTo(best);
            // Winning rows are kept as T beside the values (exact: the axis length is checked against T's integers).
            var winner = MemoryMarshal.Cast<long, T>(bestIndex)[..n];
            winner.Clear();
            for (long k = 1; k < lanes.Length; k++)
                Update(ElementRows.Load(_dtype, lane0 + k * lanes.Inner * size, n, converted), best[..n], winner, T.CreateTruncating(k));
            for (int j = 0; j < n; j++) y[o * lanes.Inner + j0 + j] = long.CreateTruncating(winner[j]);
        }
    }

    /// <summary>The winning position of one contiguous lane.</summary>
    private long ScanLane<T>(byte* lane, long length, Span<T> converted) where T : unmanaged, INumber<T>
    {
        T best = ElementRows.LoadOne<T>(_dtype, lane);
        long bestIndex = 0;
        for (long t = 0; t < length; t += Tile)
        {
            int n = (int)Math.Min(Tile, length - t);
            var tile = ElementRows.Load(_dtype, lane + t * _dtype.Size(), n, converted);
            for (int j = 0; j < n; j++)
                if (Better(tile[j], best)) { best = tile[j]; bestIndex = t + j; }
        }
        return bestIndex;
    }

    /// <summary>Row k of a tile of lanes against the best so far: lanes where it is better take its value and k.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Update<T>(ReadOnlySpan<T> row, Span<T> best, Span<T> winner, T k) where T : unmanaged, INumber<T>
    {
        int n = row.Length, j = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var kk = Vector256.Create(k);
            for (; j <= n - Vector256<T>.Count; j += Vector256<T>.Count)
            {
                var v = Vector256.Create(row.Slice(j, Vector256<T>.Count));
                var b = Vector256.Create(best.Slice(j, Vector256<T>.Count));
                // The vector form of Better: a NaN best never loses; a NaN wins; ties only with select_last_index.
                var better = ~Vector256.Equals(v, v) | (_seekMax ? Vector256.GreaterThan(v, b) : Vector256.LessThan(v, b));
                if (_selectLast) better |= Vector256.Equals(v, b);
                better = Vector256.AndNot(better, ~Vector256.Equals(b, b));
                Vector256.ConditionalSelect(better, v, b).CopyTo(best.Slice(j));
                Vector256.ConditionalSelect(better, kk, Vector256.Create(winner.Slice(j, Vector256<T>.Count))).CopyTo(winner.Slice(j));
            }
        }
        for (; j < n; j++)
            if (Better(row[j], best[j])) { best[j] = row[j]; winner[j] = k; }
    }

    /// <summary>Whether v replaces the current best: never once the best is NaN; a NaN always; ties only with select_last_index.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Better<T>(T v, T best) where T : INumber<T> =>
        !T.IsNaN(best) && (T.IsNaN(v) || (_seekMax ? v > best : v < best) || (_selectLast && v == best));
}
