using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Reduction;

public enum SoftmaxKind : byte { Softmax = 0, LogSoftmax = 1, Hardmax = 2 }

/// <summary>
/// The portable "softmax" kernel: Softmax, LogSoftmax and Hardmax along one axis, fused per lane —
/// the lane's max, Σ exp(x − max) (the max is subtracted so exp cannot overflow), then the scaled
/// or shifted result (Hardmax: 1 at the first maximum). Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 kind (0 softmax, 1 log-softmax, 2 hardmax) · u8 dtype (a float type) · u8 rank (1..8) · u8 axis
/// </code>
/// Bindings: x, y (same dtype and shape). Push constants: the dims of x. Values compute in float
/// (double for float64) with the exp sum carried in double across tiles. Lanes along the last
/// axis go tile by tile through three passes; other lanes advance as tiles of neighbouring lanes,
/// row by row. When y's storage is the compute type, softmax keeps exp(x − max) in y and scales
/// it in place; otherwise the third pass recomputes it.
/// </summary>
public sealed unsafe class SoftmaxKernel : Kernel
{
    public const string KernelName = "softmax";
    public const byte Version = 1;
    private const int Tile = 1024;
    private const long ChunkWork = 64 * 1024;

    private readonly SoftmaxKind _kind;
    private readonly DType _dtype;
    private readonly int _rank, _axis;

    private SoftmaxKernel(SoftmaxKind kind, DType dtype, int rank, int axis) => (_kind, _dtype, _rank, _axis) = (kind, dtype, rank, axis);

    public static byte[] Encode(SoftmaxKind kind, DType dtype, int rank, int axis) =>
        new DescriptorWriter().U8(Version).U8((byte)kind).U8((byte)dtype).U8(rank).U8(axis).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var kind = (SoftmaxKind)r.U8();
        if (kind > SoftmaxKind.Hardmax) throw r.Invalid($"unknown kind {(byte)kind}");
        var dtype = r.ReadDType(DTypeKind.Float, "input");
        int rank = r.ReadRank();
        if (rank == 0) throw r.Invalid("rank must be at least 1");
        int axis = r.ReadAxis(rank);
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 2, constantCount, rank);
        return new SoftmaxKernel(kind, dtype, rank, axis);
    }

    public override string Name => KernelName;

    private AxisLanes Lanes(in DispatchState d) => AxisLanes.Of(d.ConstantSpan, _axis, KernelName);

    public override void Validate(in DispatchState d)
    {
        var lanes = Lanes(d);
        DispatchChecks.Fits(d, 0, lanes.Count, _dtype.Size(), KernelName, "the input");
        DispatchChecks.Fits(d, 1, lanes.Count, _dtype.Size(), KernelName, "the output");
    }

    private static LaneWork Work(AxisLanes lanes) => LaneWork.Of(lanes, Tile, ChunkWork);

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) => (Work(Lanes(d)).Workgroups, 1, 1);

    public override int ScratchBytes(in DispatchState d) => 6 * Tile * sizeof(double);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        if (_dtype == DType.Float64) Run<double>(d, wg);
        else Run<float>(d, wg);
    }

    private ref struct Rows<T> where T : unmanaged
    {
        public Span<T> Converted, Temp, Max, Sum, Shift;
        public Span<long> Winner;

        public Rows(byte* p)
        {
            Winner = new Span<long>(p + 5 * Tile * 8, Tile);
            Converted = new Span<T>(p, Tile);
            Temp = new Span<T>(p + Tile * 8, Tile);
            Max = new Span<T>(p + 2 * Tile * 8, Tile);
            Sum = new Span<T>(p + 3 * Tile * 8, Tile);
            Shift = new Span<T>(p + 4 * Tile * 8, Tile);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Run<T>(in DispatchState d, in WorkgroupState wg) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var lanes = Lanes(d);
        var work = Work(lanes);
        var (first, last) = work.UnitsOf(wg.X);
        byte* x = d.Binding(0).Data, y = d.Binding(1).Data;
        var rows = new Rows<T>(wg.Scratch);
        if (work.ContiguousLanes)
        {
            long offset = first * lanes.Length * _dtype.Size();
            for (long o = first; o < last; o++, offset += lanes.Length * _dtype.Size())
                Lane(x + offset, y + offset, lanes.Length, ref rows);
            return;
        }
        for (long u = first; u < last; u++)
        {
            var (o, j0, n) = work.TileOf(u);
            long offset = (o * lanes.Length * lanes.Inner + j0) * _dtype.Size();
            Columns(x + offset, y + offset, lanes.Length, lanes.Inner * _dtype.Size(), n, ref rows);
        }
    }

    /// <summary>One contiguous lane of <paramref name="length"/> elements, in tiles.</summary>
    private void Lane<T>(byte* x, byte* y, long length, ref Rows<T> rows) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int size = _dtype.Size();
        bool keepExp = ElementRows.StoredAs<T>(_dtype);
        T max = T.NegativeInfinity;
        long best = 0;
        T bestValue = default;
        for (long t = 0; t < length; t += Tile)
        {
            var tile = ElementRows.Load(_dtype, x + t * size, (int)Math.Min(Tile, length - t), rows.Converted);
            if (_kind != SoftmaxKind.Hardmax) { max = T.Max(max, TensorPrimitives.Max(tile)); continue; }
            if (t == 0) bestValue = tile[0];
            for (int j = 0; j < tile.Length; j++)
                if (tile[j] > bestValue) { bestValue = tile[j]; best = t + j; }
        }
        if (_kind == SoftmaxKind.Hardmax)
        {
            for (long t = 0; t < length; t += Tile)
            {
                var ones = rows.Temp[..(int)Math.Min(Tile, length - t)];
                ones.Clear();
                if (best >= t && best < t + ones.Length) ones[(int)(best - t)] = T.One;
                ElementRows.Store<T>(ones, _dtype, y + t * size);
            }
            return;
        }
        double sum = 0;
        for (long t = 0; t < length; t += Tile)
        {
            var tile = ElementRows.Load(_dtype, x + t * size, (int)Math.Min(Tile, length - t), rows.Converted);
            var exp = rows.Temp[..tile.Length];
            sum += double.CreateTruncating(ExpRows.ExpShifted(tile, max, exp));
            if (keepExp && _kind == SoftmaxKind.Softmax) ElementRows.Store<T>(exp, _dtype, y + t * size);
        }
        T scale = T.CreateTruncating(1 / sum), shift = max + T.CreateTruncating(Math.Log(sum));
        for (long t = 0; t < length; t += Tile)
        {
            int n = (int)Math.Min(Tile, length - t);
            var result = rows.Temp[..n];
            if (_kind == SoftmaxKind.LogSoftmax)
                TensorPrimitives.Subtract(ElementRows.Load(_dtype, x + t * size, n, rows.Converted), shift, result);
            else if (keepExp)
            {
                var stored = new Span<T>(y + t * size, n);
                TensorPrimitives.Multiply(stored, scale, stored);
                continue;
            }
            else
            {
                ExpRows.ExpShifted(ElementRows.Load(_dtype, x + t * size, n, rows.Converted), max, result);
                TensorPrimitives.Multiply(result, scale, result);
            }
            ElementRows.Store<T>(result, _dtype, y + t * size);
        }
    }

    /// <summary>A tile of n neighbouring lanes: row k (stride <paramref name="rowBytes"/>) holds element k of each.</summary>
    private void Columns<T>(byte* x, byte* y, long length, long rowBytes, int n, ref Rows<T> rows) where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool keepExp = ElementRows.StoredAs<T>(_dtype);
        var max = rows.Max[..n];
        var sum = rows.Sum[..n];
        var temp = rows.Temp[..n];
        if (length == 0) return;
        ElementRows.Load(_dtype, x, n, rows.Converted).CopyTo(max);
        if (_kind == SoftmaxKind.Hardmax)
        {
            var winner = rows.Winner[..n];
            winner.Clear();
            for (long k = 1; k < length; k++)
            {
                var row = ElementRows.Load(_dtype, x + k * rowBytes, n, rows.Converted);
                for (int j = 0; j < n; j++)
                    if (row[j] > max[j]) { max[j] = row[j]; winner[j] = k; }
            }
            for (long k = 0; k < length; k++)
            {
                for (int j = 0; j < n; j++) temp[j] = winner[j] == k ? T.One : T.Zero;
                ElementRows.Store<T>(temp, _dtype, y + k * rowBytes);
            }
            return;
        }
        for (long k = 1; k < length; k++) TensorPrimitives.Max(max, ElementRows.Load(_dtype, x + k * rowBytes, n, rows.Converted), max);
        sum.Clear();
        for (long k = 0; k < length; k++)
        {
            ExpRows.ExpShiftedAccumulate(ElementRows.Load(_dtype, x + k * rowBytes, n, rows.Converted), max, temp, sum);
            if (keepExp && _kind == SoftmaxKind.Softmax) ElementRows.Store<T>(temp, _dtype, y + k * rowBytes);
        }
        // LogSoftmax subtracts max + log(sum); softmax multiplies by 1 / sum.
        var shift = rows.Shift[..n];
        if (_kind == SoftmaxKind.LogSoftmax)
        {
            TensorPrimitives.Log(sum, shift);
            TensorPrimitives.Add(shift, max, shift);
        }
        else TensorPrimitives.Reciprocal(sum, sum);
        for (long k = 0; k < length; k++)
        {
            if (_kind == SoftmaxKind.LogSoftmax)
                TensorPrimitives.Subtract(ElementRows.Load(_dtype, x + k * rowBytes, n, rows.Converted), shift, temp);
            else if (keepExp)
            {
                var stored = new Span<T>(y + k * rowBytes, n);
                TensorPrimitives.Multiply(stored, sum, stored);
                continue;
            }
            else
            {
                // Recomputed (y cannot hold exp exactly); softmax leaves Shift free to take the sums, unused here.
                ExpRows.ExpShiftedAccumulate(ElementRows.Load(_dtype, x + k * rowBytes, n, rows.Converted), max, temp, shift);
                TensorPrimitives.Multiply(temp, sum, temp);
            }
            ElementRows.Store<T>(temp, _dtype, y + k * rowBytes);
        }
    }
}
