using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Reduction;

/// <summary>
/// The portable "scan" kernel: CumSum and CumProd along an axis given at run time, optionally
/// exclusive (each result leaves out its own element) and reverse (running from the end).
/// Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 product (0 sum, 1 product) · u8 dtype · u8 axis dtype (int32/int64) · u8 rank (1..8) · u8 exclusive · u8 reverse
/// </code>
/// Bindings: x, axis (one element; negative counts from the end), y. Push constants: the dims of x.
/// The running value is kept in double for floats and in 64 bits for integers (exact, wrapping
/// back to the element type), and each result is rounded from it, as the reference does.
/// </summary>
public sealed unsafe class ScanKernel : Kernel
{
    public const string KernelName = "scan";
    public const byte Version = 1;
    private const int Tile = 1024;
    private const long ChunkWork = 64 * 1024;

    private readonly bool _product, _exclusive, _reverse;
    private readonly DType _dtype, _axisType;
    private readonly int _rank;

    private ScanKernel(bool product, DType dtype, DType axisType, int rank, bool exclusive, bool reverse) =>
        (_product, _dtype, _axisType, _rank, _exclusive, _reverse) = (product, dtype, axisType, rank, exclusive, reverse);

    public static byte[] Encode(bool product, DType dtype, DType axisType, int rank, bool exclusive, bool reverse) =>
        new DescriptorWriter().U8(Version).U8(product ? 1 : 0).U8((byte)dtype).U8((byte)axisType).U8(rank).U8(exclusive ? 1 : 0).U8(reverse ? 1 : 0).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        bool product = r.ReadFlag("product");
        var dtype = r.ReadDType(DTypeKind.Numeric, "input");
        var axisType = r.ReadDType(DTypeKind.Index, "axis");
        int rank = r.ReadRank();
        if (rank == 0) throw r.Invalid("rank must be at least 1");
        bool exclusive = r.ReadFlag("exclusive"), reverse = r.ReadFlag("reverse");
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 3, constantCount, rank);
        return new ScanKernel(product, dtype, axisType, rank, exclusive, reverse);
    }

    public override string Name => KernelName;

    private AxisLanes Lanes(in DispatchState d)
    {
        ref readonly var b = ref d.Binding(1);
        if (b.Length != _axisType.Size()) throw DispatchChecks.OutOfRange(KernelName, $"axis must hold one value, its binding has {b.Length} bytes");
        long axis = _axisType == DType.Int64 ? *(long*)b.Data : *(int*)b.Data;
        if (axis < -_rank || axis >= _rank) throw DispatchChecks.OutOfRange(KernelName, $"axis {axis} is out of range for rank {_rank}");
        return AxisLanes.Of(d.ConstantSpan, (int)(axis < 0 ? axis + _rank : axis), KernelName);
    }

    public override void Validate(in DispatchState d)
    {
        var lanes = Lanes(d);
        DispatchChecks.Fits(d, 0, lanes.Count, _dtype.Size(), KernelName, "the input");
        DispatchChecks.Fits(d, 2, lanes.Count, _dtype.Size(), KernelName, "the output");
    }

    private static LaneWork Work(AxisLanes lanes) => LaneWork.Of(lanes, Tile, ChunkWork);

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) => (Work(Lanes(d)).Workgroups, 1, 1);

    public override int ScratchBytes(in DispatchState d) => 2 * Tile * sizeof(long);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        switch (_dtype, _product)
        {
            case (DType.Float32 or DType.Float16 or DType.BFloat16 or DType.Float64, false): Run<double, Sum<double>>(d, wg); break;
            case (DType.Float32 or DType.Float16 or DType.BFloat16 or DType.Float64, true): Run<double, Product<double>>(d, wg); break;
            case (DType.UInt64, false): Run<ulong, Sum<ulong>>(d, wg); break;
            case (DType.UInt64, true): Run<ulong, Product<ulong>>(d, wg); break;
            case (_, false): Run<long, Sum<long>>(d, wg); break;
            default: Run<long, Product<long>>(d, wg); break;
        }
    }

    /// <summary>A running combination: its start value, one step, and a whole row of steps.</summary>
    private interface IStep<T> where T : unmanaged
    {
        static abstract T Start { get; }
        static abstract T Apply(T running, T x);
        static abstract void Apply(Span<T> running, ReadOnlySpan<T> x);
    }

    private readonly struct Sum<T> : IStep<T> where T : unmanaged, INumber<T>
    {
        public static T Start => T.Zero;
        public static T Apply(T running, T x) => running + x;
        public static void Apply(Span<T> running, ReadOnlySpan<T> x) => TensorPrimitives.Add(running, x, running);
    }

    private readonly struct Product<T> : IStep<T> where T : unmanaged, INumber<T>
    {
        public static T Start => T.One;
        public static T Apply(T running, T x) => running * x;
        public static void Apply(Span<T> running, ReadOnlySpan<T> x) => TensorPrimitives.Multiply(running, x, running);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Run<TAcc, TStep>(in DispatchState d, in WorkgroupState wg) where TAcc : unmanaged, INumber<TAcc> where TStep : IStep<TAcc>
    {
        var lanes = Lanes(d);
        var work = Work(lanes);
        var (first, last) = work.UnitsOf(wg.X);
        byte* x = d.Binding(0).Data, y = d.Binding(2).Data;
        int size = _dtype.Size();
        var converted = new Span<TAcc>(wg.Scratch, Tile);
        var running = new Span<TAcc>(wg.Scratch + Tile * sizeof(long), Tile);
        if (work.ContiguousLanes)
        {
            for (long o = first; o < last; o++) Lane<TAcc, TStep>(x + o * lanes.Length * size, y + o * lanes.Length * size, lanes.Length, converted, running);
            return;
        }
        long rowBytes = lanes.Inner * size;
        for (long u = first; u < last; u++)
        {
            var (o, j0, n) = work.TileOf(u);
            long offset = (o * lanes.Length * lanes.Inner + j0) * size;
            var acc = running[..n];
            acc.Fill(TStep.Start);
            for (long step = 0; step < lanes.Length; step++)
            {
                long k = _reverse ? lanes.Length - 1 - step : step;
                var row = ElementRows.Load(_dtype, x + offset + k * rowBytes, n, converted);
                if (_exclusive) ElementRows.Store<TAcc>(acc, _dtype, y + offset + k * rowBytes);
                TStep.Apply(acc, row);
                if (!_exclusive) ElementRows.Store<TAcc>(acc, _dtype, y + offset + k * rowBytes);
            }
        }
    }

    /// <summary>One contiguous lane, tile by tile in scan order.</summary>
    private void Lane<TAcc, TStep>(byte* x, byte* y, long length, Span<TAcc> converted, Span<TAcc> results) where TAcc : unmanaged, INumber<TAcc> where TStep : IStep<TAcc>
    {
        int size = _dtype.Size();
        var acc = TStep.Start;
        long tiles = (length + Tile - 1) / Tile;
        for (long step = 0; step < tiles; step++)
        {
            long t = (_reverse ? tiles - 1 - step : step) * Tile;
            int n = (int)Math.Min(Tile, length - t);
            var tile = ElementRows.Load(_dtype, x + t * size, n, converted);
            var r = results[..n];
            int j = _reverse ? n - 1 : 0, direction = _reverse ? -1 : 1;
            if (_exclusive)
                for (int i = 0; i < n; i++, j += direction) { r[j] = acc; acc = TStep.Apply(acc, tile[j]); }
            else
                for (int i = 0; i < n; i++, j += direction) { acc = TStep.Apply(acc, tile[j]); r[j] = acc; }
            ElementRows.Store<TAcc>(r, _dtype, y + t * size);
        }
    }
}
