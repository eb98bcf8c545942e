using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Reduction;

/// <summary>
/// The portable "reduce" kernel (see <see cref="ReduceDescriptor"/>). Values compute in float for
/// float16/bfloat16/float32 inputs and in double for float64, with sums carried in double across
/// tiles (and across blocks of rows), so long sums do not drift; integers compute exactly in 64
/// bits (uint64 unsigned), wrapping back to their type as numpy's astype does; log-sum-exp runs
/// online (a running max and a rescaled sum) in float or double. Row reductions read tiles of a
/// run and reduce them with TensorPrimitives; column reductions combine whole rows elementwise.
/// Workgroups take ranges of groups (or of column tiles) within one slice, sized by work.
/// </summary>
public sealed unsafe class ReduceKernel : Kernel
{
    public const string KernelName = "reduce";
    /// <summary>Elements per tile; a column tile's accumulators stay in L1.</summary>
    private const int Tile = 1024;
    /// <summary>Float rows summed in float before their block sum joins the double total.</summary>
    private const int BlockRows = 32;
    /// <summary>Input elements a workgroup aims to read.</summary>
    private const long ChunkWork = 64 * 1024;
    public const long MaxSlices = 1 << 12;

    private readonly ReduceDescriptor _desc;

    private ReduceKernel(ReduceDescriptor desc) => _desc = desc;

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var desc = ReduceDescriptor.Decode(descriptor);
        DescriptorFields.CheckCounts(KernelName, bindingCount, desc.BindingCount, constantCount, desc.ConstantCount);
        return new ReduceKernel(desc);
    }

    public override string Name => KernelName;

    /// <summary>The types a reduction computes in: T for elements of a tile, TAcc for a group's value.</summary>
    private enum Domain { Float, Double, Long, ULong }

    private Domain DomainOf(DType input) => input switch
    {
        DType.Float32 or DType.Float16 or DType.BFloat16 => Domain.Float,
        DType.Float64 => Domain.Double,
        _ when _desc.Combine == ReduceCombine.LogSumExp => Domain.Double,
        DType.UInt64 => Domain.ULong,
        _ => Domain.Long,
    };

    private ReadOnlySpan<long> Dims(in DispatchState d) => d.ConstantSpan[.._desc.Rank];

    /// <summary>The reduced axes as a bit mask, from the mask constant or the axes binding (checked).</summary>
    private uint Mask(in DispatchState d)
    {
        int rank = _desc.Rank;
        if (_desc.Axes == ReduceAxes.Mask)
        {
            long mask = d.Constant(_desc.MaskConstant);
            return mask >= 0 && mask < 1L << rank ? (uint)mask : throw DispatchChecks.OutOfRange(KernelName, $"axes mask {mask} does not fit rank {rank}");
        }
        ref readonly var b = ref d.Binding(1);
        long count = b.Length / sizeof(long);
        if (count == 0) return _desc.Axes == ReduceAxes.BindingOrAll ? (1u << rank) - 1 : 0;
        uint result = 0;
        for (long i = 0; i < count; i++)
        {
            long a = ((long*)b.Data)[i];
            if (a < -rank || a >= rank) throw DispatchChecks.OutOfRange(KernelName, $"axis {a} is out of range for rank {rank}");
            uint bit = 1u << (int)(a < 0 ? a + rank : a);
            if ((result & bit) != 0) throw DispatchChecks.OutOfRange(KernelName, $"axis {a} is listed twice");
            result |= bit;
        }
        return result;
    }

    private ReduceGeometry Geometry(in DispatchState d) => ReduceGeometry.Create(Dims(d), Mask(d), KernelName);

    private long Slices(in DispatchState d) => d.Constant(_desc.SlicesConstant);

    public override void Validate(in DispatchState d)
    {
        var g = Geometry(d);
        long slices = Slices(d);
        if (slices < 1 || slices > MaxSlices) throw DispatchChecks.OutOfRange(KernelName, $"slice count {slices} is outside [1, {MaxSlices}]");
        DispatchChecks.Multiply(g.Reduced, slices, KernelName, "slices of the reduction");
        bool integer = DomainOf(_desc.Input) is Domain.Long or Domain.ULong;
        if (_desc.Finalize == ReduceFinalize.Divide && integer && g.Reduced > 0 && d.Constant(_desc.DivisorConstant) < 1)
            throw DispatchChecks.OutOfRange(KernelName, $"an integer mean needs a positive divisor, got {d.Constant(_desc.DivisorConstant)}");
        DispatchChecks.Fits(d, 0, DispatchChecks.Product(Dims(d), KernelName, "input size"), _desc.Input.Size(), KernelName, "the input");
        DispatchChecks.Fits(d, _desc.BindingCount - 1, DispatchChecks.Multiply(g.Groups, slices, KernelName, "output size"), _desc.Output.Size(), KernelName, "the output");
        if (Plan(g, slices).Workgroups > int.MaxValue) throw DispatchChecks.OutOfRange(KernelName, "too many workgroups");
    }

    /// <summary>How a dispatch splits: units (groups, or column tiles of output rows) in ranges per workgroup, per slice.</summary>
    private readonly record struct WorkPlan(long Units, long UnitsPerWorkgroup, long WorkgroupsPerSlice, long Slices, long TilesPerRow)
    {
        public long Workgroups => WorkgroupsPerSlice * Slices;
    }

    private static WorkPlan Plan(in ReduceGeometry g, long slices)
    {
        if (g.Groups == 0) return new WorkPlan(0, 1, 0, slices, 1);
        if (g.Reduced == 0) return new WorkPlan(g.Groups, g.Groups, 1, slices, 1); // identities only
        long units, work;
        long tilesPerRow = 1;
        if (g.RowsReduced)
        {
            units = g.Rows;
            work = Math.Max(1, g.Reduced / slices);
        }
        else
        {
            tilesPerRow = (g.RunLength + Tile - 1) / Tile;
            units = g.Rows * tilesPerRow;
            work = Math.Max(1, g.Steps / slices) * Math.Min(g.RunLength, Tile);
        }
        long perWorkgroup = Math.Max(1, ChunkWork / work);
        return new WorkPlan(units, perWorkgroup, (units + perWorkgroup - 1) / perWorkgroup, slices, tilesPerRow);
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) =>
        ((int)Plan(Geometry(d), Slices(d)).Workgroups, 1, 1);

    /// <summary>Scratch: a converted tile, a temporary tile, a block accumulator, the totals, and two log-sum-exp state rows.</summary>
    public override int ScratchBytes(in DispatchState d) => 6 * Tile * sizeof(double);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        var g = Geometry(d);
        switch (DomainOf(_desc.Input))
        {
            case Domain.Float: Run<float, double>(g, d, wg); break;
            case Domain.Double: Run<double, double>(g, d, wg); break;
            case Domain.Long: Run<long, long>(g, d, wg); break;
            default: Run<ulong, ulong>(g, d, wg); break;
        }
    }

    /// <summary>The state and scratch rows of one workgroup.</summary>
    private ref struct Scratch<T, TAcc> where T : unmanaged where TAcc : unmanaged
    {
        public Span<T> Converted, Temp, Block;
        public Span<TAcc> Totals;
        public Span<double> LseMax, LseSum;

        public Scratch(byte* p)
        {
            Converted = new Span<T>(p, Tile);
            Temp = new Span<T>(p + Tile * 8, Tile);
            Block = new Span<T>(p + 2 * Tile * 8, Tile);
            Totals = new Span<TAcc>(p + 3 * Tile * 8, Tile);
            LseMax = new Span<double>(p + 4 * Tile * 8, Tile);
            LseSum = new Span<double>(p + 5 * Tile * 8, Tile);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Run<T, TAcc>(in ReduceGeometry g, in DispatchState d, in WorkgroupState wg)
        where T : unmanaged, INumber<T> where TAcc : unmanaged, INumber<TAcc>
    {
        long slices = Slices(d);
        var plan = Plan(g, slices);
        long slice = wg.X / plan.WorkgroupsPerSlice;
        long first = wg.X % plan.WorkgroupsPerSlice * plan.UnitsPerWorkgroup;
        long last = Math.Min(first + plan.UnitsPerWorkgroup, plan.Units);
        byte* x = d.Binding(0).Data;
        byte* y = d.Binding(_desc.BindingCount - 1).Data;
        int inSize = _desc.Input.Size(), outSize = _desc.Output.Size();
        long outBase = slice * g.Groups;
        var s = new Scratch<T, TAcc>(wg.Scratch);
        double divisor = d.Constant(_desc.DivisorConstant);

        if (g.Reduced == 0)
        {
            // Partial slices stay unfinalized: the combining reduce finalizes.
            double empty = slices == 1 ? Finalize(Identity<double>(), divisor) : Identity<double>();
            for (long u = first; u < last; u++) ElementRows.StoreSaturating(empty, _desc.Output, y + (outBase + u) * outSize);
            return;
        }

        if (g.RowsReduced)
        {
            // Each unit is one group; the slice covers linear reduced positions [r0, r1) of it.
            long r0 = g.Reduced * slice / slices, r1 = g.Reduced * (slice + 1) / slices;
            int pending = 0;
            long pendingStart = first;
            for (long h = first; h < last; h++)
            {
                s.Totals[pending++] = FoldGroup<T, TAcc>(x + g.Kept.Offset(h) * inSize, g, r0, r1, ref s);
                if (pending == Tile || h == last - 1)
                {
                    FinalizeAndStore<TAcc>(s.Totals[..pending], divisor, slices, y + (outBase + pendingStart) * outSize);
                    pendingStart += pending;
                    pending = 0;
                }
            }
            return;
        }

        // Columns: each unit is a tile of one output row; the slice covers steps [q0, q1).
        long q0 = g.Steps * slice / slices, q1 = g.Steps * (slice + 1) / slices;
        for (long u = first; u < last; u++)
        {
            long row = u / plan.TilesPerRow, j0 = u % plan.TilesPerRow * Tile;
            int n = (int)Math.Min(Tile, g.RunLength - j0);
            FoldColumns<T, TAcc>(x + (g.Kept.Offset(row) + j0) * inSize, g, q0, q1, n, ref s);
            FinalizeAndStore<TAcc>(s.Totals[..n], divisor, slices, y + (outBase + row * g.RunLength + j0) * outSize);
        }
    }

    /// <summary>The combine's identity: 0, 1, -inf, +inf (saturated into integer types).</summary>
    private TAcc Identity<TAcc>() where TAcc : INumberBase<TAcc> => TAcc.CreateSaturating(_desc.Combine switch
    {
        ReduceCombine.Sum => 0.0,
        ReduceCombine.Product => 1.0,
        ReduceCombine.Min => double.PositiveInfinity,
        _ => double.NegativeInfinity,
    });

    /// <summary>Folds linear reduced positions [r0, r1) of one group (runs of RunLength contiguous elements).</summary>
    private TAcc FoldGroup<T, TAcc>(byte* groupBase, in ReduceGeometry g, long r0, long r1, ref Scratch<T, TAcc> s)
        where T : unmanaged, INumber<T> where TAcc : unmanaged, INumber<TAcc>
    {
        int inSize = _desc.Input.Size();
        TAcc acc = Identity<TAcc>();
        double lseMax = double.NegativeInfinity, lseSum = 0;
        long runLength = g.RunLength;
        var steps = Odometer.At(g.Stepped, r0 / runLength);
        long within = r0 % runLength;
        for (long p = r0; p < r1;)
        {
            long end = Math.Min(runLength, within + (r1 - p));
            byte* run = groupBase + steps.Offset * inSize;
            for (long t = within; t < end; t += Tile)
            {
                int n = (int)Math.Min(Tile, end - t);
                var tile = ElementRows.Load(_desc.Input, run + t * inSize, n, s.Converted);
                if (_desc.Combine == ReduceCombine.LogSumExp) OnlineLogSumExp(tile, ref lseMax, ref lseSum, s.Temp);
                else acc = FoldTile(tile, acc);
            }
            p += end - within;
            within = 0;
            steps.Advance(g.Stepped);
        }
        return _desc.Combine == ReduceCombine.LogSumExp ? TAcc.CreateTruncating(LogSumExp(lseMax, lseSum)) : acc;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TAcc FoldTile<T, TAcc>(ReadOnlySpan<T> tile, TAcc acc) where T : unmanaged, INumber<T> where TAcc : unmanaged, INumber<TAcc>
    {
        switch (_desc.Combine)
        {
            case ReduceCombine.Sum:
                var sum = _desc.Map switch
                {
                    ReduceMap.Abs => TensorPrimitives.SumOfMagnitudes(tile),
                    ReduceMap.Square => TensorPrimitives.SumOfSquares(tile),
                    _ => TensorPrimitives.Sum(tile),
                };
                return acc + TAcc.CreateTruncating(sum);
            case ReduceCombine.Product:
                foreach (var v in tile) acc *= TAcc.CreateTruncating(v);
                return acc;
            case ReduceCombine.Max: return TAcc.Max(acc, TAcc.CreateTruncating(TensorPrimitives.Max(tile)));
            default: return TAcc.Min(acc, TAcc.CreateTruncating(TensorPrimitives.Min(tile)));
        }
    }

    /// <summary>
    /// Joins a tile to a running log-sum-exp (max m, Σ exp(x − m)): the sum is rescaled when the
    /// max grows. Tiles of -inf add nothing; an infinite or NaN max decides the result on its own.
    /// </summary>
    private static void OnlineLogSumExp<T>(ReadOnlySpan<T> tile, ref double max, ref double sum, Span<T> temp) where T : unmanaged, INumber<T>
    {
        double tileMax = double.CreateTruncating(TensorPrimitives.Max(tile));
        if (double.IsNegativeInfinity(tileMax)) return;
        double next = Math.Max(max, tileMax);
        if (!double.IsFinite(next)) { max = next; return; }
        sum = sum * Math.Exp(max - next) + SumExpShifted(tile, next, temp);
        max = next;
    }

    /// <summary>Σ exp(x − shift) over a tile (exp of values ≤ 0, so the tile's float sum is safe; the caller carries it in double).</summary>
    private static double SumExpShifted<T>(ReadOnlySpan<T> tile, double shift, Span<T> temp) where T : unmanaged, INumber<T>
    {
        if (typeof(T) == typeof(float))
            return ExpRows.ExpShifted(MemoryMarshal.Cast<T, float>(tile), (float)shift, MemoryMarshal.Cast<T, float>(temp));
        if (typeof(T) == typeof(double))
            return ExpRows.ExpShifted(MemoryMarshal.Cast<T, double>(tile), shift, MemoryMarshal.Cast<T, double>(temp));
        throw new InvalidOperationException("log-sum-exp computes in float or double");
    }

    private static double LogSumExp(double max, double sum) => double.IsFinite(max) ? max + Math.Log(sum) : max;

    /// <summary>Combines rows q0..q1 of a column tile (n contiguous elements per row) into s.Totals[..n].</summary>
    private void FoldColumns<T, TAcc>(byte* tileBase, in ReduceGeometry g, long q0, long q1, int n, ref Scratch<T, TAcc> s)
        where T : unmanaged, INumber<T> where TAcc : unmanaged, INumber<TAcc>
    {
        int inSize = _desc.Input.Size();
        var totals = s.Totals[..n];
        var block = s.Block[..n];
        var temp = s.Temp[..n];
        var lseMax = s.LseMax[..n];
        var lseSum = s.LseSum[..n];
        totals.Fill(Identity<TAcc>());
        lseMax.Fill(double.NegativeInfinity);
        lseSum.Clear();
        // Sums of float tiles gather BlockRows rows in float, then join the double totals; other types add straight in.
        bool blocked = typeof(T) != typeof(TAcc);
        var direct = MemoryMarshal.Cast<TAcc, T>(totals); // used only when T is TAcc
        block.Clear();
        int rowsInBlock = 0;
        var steps = Odometer.At(g.Stepped, q0);
        for (long q = q0; q < q1; q++, steps.Advance(g.Stepped))
        {
            var row = ElementRows.Load(_desc.Input, tileBase + steps.Offset * inSize, n, s.Converted);
            switch (_desc.Combine)
            {
                case ReduceCombine.Sum:
                    var into = blocked ? block : direct;
                    switch (_desc.Map)
                    {
                        case ReduceMap.Abs: TensorPrimitives.Abs(row, temp); TensorPrimitives.Add(into, temp, into); break;
                        case ReduceMap.Square: TensorPrimitives.MultiplyAdd(row, row, into, into); break;
                        default: TensorPrimitives.Add(into, row, into); break;
                    }
                    if (blocked && ++rowsInBlock == BlockRows) { AddInto(totals, block); rowsInBlock = 0; }
                    break;
                case ReduceCombine.Product:
                    for (int j = 0; j < n; j++) totals[j] *= TAcc.CreateTruncating(row[j]);
                    break;
                case ReduceCombine.Max:
                case ReduceCombine.Min:
                    // Exact in T: the first row starts the running extreme.
                    if (q == q0) row.CopyTo(block);
                    else if (_desc.Combine == ReduceCombine.Max) TensorPrimitives.Max(block, row, block);
                    else TensorPrimitives.Min(block, row, block);
                    break;
                default:
                    for (int j = 0; j < n; j++)
                    {
                        double v = double.CreateTruncating(row[j]);
                        double next = Math.Max(lseMax[j], v);
                        if (double.IsNegativeInfinity(v)) continue;
                        if (double.IsFinite(next)) lseSum[j] = lseSum[j] * Math.Exp(lseMax[j] - next) + Math.Exp(v - next);
                        lseMax[j] = next;
                    }
                    break;
            }
        }
        switch (_desc.Combine)
        {
            case ReduceCombine.Sum when blocked: AddInto(totals, block); break;
            case ReduceCombine.Max or ReduceCombine.Min when q1 > q0:
                for (int j = 0; j < n; j++) totals[j] = TAcc.CreateTruncating(block[j]);
                break;
            case ReduceCombine.LogSumExp:
                for (int j = 0; j < n; j++) totals[j] = TAcc.CreateTruncating(LogSumExp(lseMax[j], lseSum[j]));
                break;
        }
    }

    private static void AddInto<T, TAcc>(Span<TAcc> totals, Span<T> block) where T : unmanaged, INumber<T> where TAcc : unmanaged, INumber<TAcc>
    {
        for (int j = 0; j < totals.Length; j++) totals[j] += TAcc.CreateTruncating(block[j]);
        block.Clear();
    }

    private TAcc Finalize<TAcc>(TAcc v, double divisor) where TAcc : INumber<TAcc> => _desc.Finalize switch
    {
        ReduceFinalize.Divide => v / TAcc.CreateTruncating(divisor),
        ReduceFinalize.Sqrt => TAcc.CreateTruncating(Math.Sqrt(double.CreateTruncating(v))),
        ReduceFinalize.Log => TAcc.CreateTruncating(Math.Log(double.CreateTruncating(v))),
        _ => v,
    };

    private void FinalizeAndStore<TAcc>(Span<TAcc> values, double divisor, long slices, byte* dst) where TAcc : unmanaged, INumber<TAcc>
    {
        // Partial slices stay unfinalized: the combining reduce finalizes.
        if (_desc.Finalize != ReduceFinalize.None && slices == 1)
            for (int i = 0; i < values.Length; i++) values[i] = Finalize(values[i], divisor);
        ElementRows.Store<TAcc>(values, _desc.Output, dst);
    }
}
