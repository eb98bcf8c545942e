using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Kernels.Support;

namespace Kiln.Runtime.Kernels.Pooling;

/// <summary>
/// The portable "pool" kernel (<see cref="PoolDescriptor"/>): MaxPool, AveragePool and LpPool.
/// Work items are output rows (a plane and its coordinates on every spatial axis but the last);
/// workgroups take contiguous runs of them, so channels spread over workers. A row accumulates in
/// place in Y: for each window tap (row-major, as the reference orders them) the run of outputs
/// whose tap lands inside the input is combined with a strided run of one input row — vector loops
/// for strides 1 and 2. Then averages divide by their tap counts and Lp norms take the root.
/// With indices (MaxPool's second result) a scalar loop keeps the first position of each maximum.
/// </summary>
public sealed unsafe class PoolKernel : Kernel
{
    public const string KernelName = "pool";

    private readonly PoolDescriptor _d;

    /// <summary>Float32 2-D max pooling over 2×2 windows at stride 2 (the downsampling of many CNNs): a dedicated vector loop.</summary>
    private readonly bool _max2x2;

    private PoolKernel(PoolDescriptor descriptor)
    {
        _d = descriptor;
        _max2x2 = descriptor is { Op: PoolOp.Max, DType: DType.Float32, SpatialRank: 2, BindingCount: 2 }
            && AllEqual(descriptor.Kernel, 2) && AllEqual(descriptor.Strides, 2) && AllEqual(descriptor.Dilations, 1);
    }

    private static bool AllEqual(long[] values, long value) => values.AsSpan().IndexOfAnyExcept(value) < 0;

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var d = PoolDescriptor.Decode(descriptor);
        if (bindingCount != d.BindingCount || constantCount != d.ConstantCount)
            throw new KilnRuntimeException(StatusCode.InvalidModule,
                $"{KernelName}: {bindingCount} bindings and {constantCount} constants; the descriptor needs {d.BindingCount} and {d.ConstantCount}");
        return new PoolKernel(d);
    }

    public override string Name => KernelName;

    /// <summary>The sizes a dispatch's constants describe.</summary>
    private readonly ref struct Geometry
    {
        public readonly long Planes;
        public readonly ReadOnlySpan<long> Input, Output, PadBegin, PadEnd;
        public readonly long InPlane, OutPlane, OutRows, OutWidth;

        public Geometry(in DispatchState d, int k)
        {
            var c = d.ConstantSpan;
            Planes = c[0];
            Input = c.Slice(1, k);
            Output = c.Slice(1 + k, k);
            PadBegin = c.Slice(1 + 2 * k, k);
            PadEnd = c.Slice(1 + 3 * k, k);
            InPlane = Product(Input);
            OutPlane = Product(Output);
            OutWidth = Output[k - 1];
            OutRows = OutWidth == 0 ? 0 : OutPlane / OutWidth;
        }

        private static long Product(ReadOnlySpan<long> s)
        {
            long p = 1;
            foreach (long v in s) p *= v;
            return p;
        }
    }

    public override void Validate(in DispatchState d)
    {
        int k = _d.SpatialRank;
        var c = d.ConstantSpan;
        for (int i = 0; i < c.Length; i++)
            KernelChecks.Size(KernelName, c[i], $"constant {i}");
        for (int a = 0; a < k; a++)
            if (c[1 + 2 * k + a] > int.MaxValue || c[1 + 3 * k + a] > int.MaxValue)
                throw KernelChecks.Error(KernelName, $"axis {a}: pads beyond 2^31");
        long inPlane = KernelChecks.Product(KernelName, c.Slice(1, k));
        long outPlane = KernelChecks.Product(KernelName, c.Slice(1 + k, k));
        if (c[k] > int.MaxValue / 16 || c[2 * k] > int.MaxValue / 64)
            throw KernelChecks.Error(KernelName, "rows longer than 2^26 elements");
        int size = _d.DType.Size();
        KernelChecks.Holds(KernelName, d, 0, KernelChecks.Multiply(KernelName, c[0], inPlane), size, "X");
        KernelChecks.Holds(KernelName, d, 1, KernelChecks.Multiply(KernelName, c[0], outPlane), size, "Y");
        if (_d.BindingCount == 3) KernelChecks.Holds(KernelName, d, 2, KernelChecks.Multiply(KernelName, c[0], outPlane), sizeof(long), "Indices");
    }

    private long TapsPerOutput()
    {
        long taps = 1;
        foreach (long k in _d.Kernel) taps = Math.Min(taps * k, 1L << 40);
        return taps;
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        var g = new Geometry(d, _d.SpatialRank);
        return (WorkSplit.Groups(g.Planes * g.OutRows, g.OutWidth * TapsPerOutput(), env), 1, 1);
    }

    /// <summary>
    /// Per workgroup, along the last axis: tap counts per output (inside the input, inside the
    /// padded input; as integers and in X's type), a row of indices, a row for divisors, and the
    /// output range each tap covers.
    /// </summary>
    public override int ScratchBytes(in DispatchState d) =>
        (int)d.Constant(2 * _d.SpatialRank) * (2 * sizeof(int) + 4 * sizeof(long)) + (int)_d.Kernel[^1] * 2 * sizeof(long);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        if (_max2x2)
        {
            var g = new Geometry(d, 2);
            if (g.PadBegin[0] == 0 && g.PadBegin[1] == 0 && g.Output[0] * 2 <= g.Input[0] && g.Output[1] * 2 <= g.Input[1])
            {
                Max2x2(d, wg, g);
                return;
            }
        }
        switch (_d.DType)
        {
            case DType.Float32: RunTyped<float>(d, wg); break;
            case DType.Float64: RunTyped<double>(d, wg); break;
            case DType.Int8: RunInteger<sbyte>(d, wg); break;
            default: RunInteger<byte>(d, wg); break;
        }
    }

    private void RunTyped<T>(in DispatchState d, in WorkgroupState wg) where T : unmanaged, IFloatingPointIeee754<T>, IMinMaxValue<T>
    {
        switch (_d.Op)
        {
            case PoolOp.Max: RunOp<T, MaxCombine<T>>(default, d, wg); break;
            case PoolOp.Average: RunOp<T, SumCombine<T>>(default, d, wg); break;
            case PoolOp.Lp when _d.P == 1: RunOp<T, AbsSumCombine<T>>(default, d, wg); break;
            case PoolOp.Lp when _d.P == 2: RunOp<T, SquareSumCombine<T>>(default, d, wg); break;
            default: RunOp<T, PowerSumCombine<T>>(new PowerSumCombine<T>(T.CreateChecked(_d.P)), d, wg); break;
        }
    }

    private void RunInteger<T>(in DispatchState d, in WorkgroupState wg) where T : unmanaged, INumber<T>, IMinMaxValue<T> =>
        RunOp<T, MaxCombine<T>>(default, d, wg);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RunOp<T, TOp>(TOp op, in DispatchState d, in WorkgroupState wg)
        where T : unmanaged, INumber<T>, IMinMaxValue<T> where TOp : struct, IPoolCombine<T>
    {
        int k = _d.SpatialRank, last = k - 1;
        var g = new Geometry(d, k);
        var (start, end) = WorkSplit.Range(wg.X, d.WorkgroupCountX, g.Planes * g.OutRows);
        int width = (int)g.OutWidth, taps = (int)_d.Kernel[last];
        long inWidth = g.Input[last], stride = _d.Strides[last];

        // Along the last axis, once per workgroup: tap counts, and the outputs each tap reaches.
        byte* scratch = wg.Scratch;
        var tapFirst = new Span<long>(scratch, taps);
        var tapStop = new Span<long>(scratch += taps * sizeof(long), taps);
        var arg = new Span<long>(scratch += taps * sizeof(long), width);
        var validCount = new Span<T>(scratch += width * sizeof(long), width);
        var paddedCount = new Span<T>(scratch += width * sizeof(long), width);
        var divisor = new Span<T>(scratch += width * sizeof(long), width);
        var valid = new Span<int>(scratch += width * sizeof(long), width);
        var padded = new Span<int>(scratch + width * sizeof(int), width);
        bool anyEmpty = false;
        for (int o = 0; o < width; o++)
        {
            (valid[o], padded[o]) = TapCounts(g, last, o);
            (validCount[o], paddedCount[o]) = (T.CreateTruncating(valid[o]), T.CreateTruncating(padded[o]));
            anyEmpty |= valid[o] == 0;
        }
        for (int j = 0; j < taps; j++)
            (tapFirst[j], tapStop[j]) = ValidRange(j * _d.Dilations[last] - g.PadBegin[last], stride, inWidth, width);

        T* x = (T*)d.Binding(0).Data, y = (T*)d.Binding(1).Data;
        bool withIndices = _d.BindingCount == 3;
        long* indices = withIndices ? (long*)d.Binding(2).Data : null;
        Span<long> outCoord = stackalloc long[k];
        Span<long> inCoord = stackalloc long[k];
        Span<long> tap = stackalloc long[k];
        Span<long> inStride = stackalloc long[k];
        inStride[last] = 1;
        for (int a = last - 1; a >= 0; a--) inStride[a] = inStride[a + 1] * g.Input[a + 1];
        T initial = _d.Op == PoolOp.Max ? InitialMax<T>() : T.Zero;

        // The plane and outer output coordinates of the first item, then an odometer.
        long plane = start / g.OutRows, rest = start % g.OutRows;
        for (int a = last - 1; a >= 0; a--) { outCoord[a] = rest % g.Output[a]; rest /= g.Output[a]; }
        for (long item = start; item < end; item++)
        {
            T* yRow = y + item * width;
            new Span<T>(yRow, width).Fill(initial);
            if (withIndices) arg.Fill(-1);
            long outerValid = 1, outerPadded = 1;
            for (int a = 0; a < last; a++)
            {
                var (v, p) = TapCounts(g, a, outCoord[a]);
                outerValid *= v;
                outerPadded *= p;
            }

            // Taps on the outer axes (row-major); each one that lands inside the input selects an input row.
            tap.Clear();
            do
            {
                long rowOffset = 0;
                bool inside = true;
                for (int a = 0; a < last && inside; a++)
                {
                    inCoord[a] = outCoord[a] * _d.Strides[a] - g.PadBegin[a] + tap[a] * _d.Dilations[a];
                    inside = inCoord[a] >= 0 && inCoord[a] < g.Input[a];
                    rowOffset += inCoord[a] * inStride[a];
                }
                if (!inside) continue;
                T* xRow = x + plane * g.InPlane + rowOffset;
                for (int j = 0; j < taps; j++)
                {
                    long first = tapFirst[j], count = tapStop[j] - first;
                    if (count <= 0) continue;
                    long at = first * stride + j * _d.Dilations[last] - g.PadBegin[last];
                    if (withIndices) CombineWithIndices(yRow + first, arg.Slice((int)first), xRow + at, rowOffset + at, stride, (int)count);
                    else RowCombine.Apply(op, yRow + first, xRow + at, stride, (int)count, inWidth - at);
                }
            } while (Next(tap[..last], _d.Kernel.AsSpan(0, last)));

            Finish(new Span<T>(yRow, width), outerValid, outerPadded, anyEmpty ? valid : default, validCount, paddedCount, divisor);
            if (withIndices) WriteIndices(indices + item * width, arg, plane * g.InPlane, g.Input);
            if (!Next(outCoord[..last], g.Output[..last])) plane++;
        }
    }

    /// <summary>The output positions [first, stop) along an axis whose tap at input offset o·stride + offset lies in [0, input).</summary>
    private static (long First, long Stop) ValidRange(long offset, long stride, long input, long outputs)
    {
        long first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
        long stop = input - 1 - offset < 0 ? 0 : Math.Min(outputs, (input - 1 - offset) / stride + 1);
        return (first, stop);
    }

    /// <summary>How many taps of output position o along an axis land inside the input, and inside the padded input.</summary>
    private (int Valid, int Padded) TapCounts(in Geometry g, int axis, long o)
    {
        int valid = 0, padded = 0;
        for (long j = 0; j < _d.Kernel[axis]; j++)
        {
            long i = o * _d.Strides[axis] - g.PadBegin[axis] + j * _d.Dilations[axis];
            if (i >= 0 && i < g.Input[axis]) valid++;
            if (i >= -g.PadBegin[axis] && i < g.Input[axis] + g.PadEnd[axis]) padded++;
        }
        return (valid, padded);
    }

    private static bool Next(Span<long> coord, ReadOnlySpan<long> sizes)
    {
        for (int a = coord.Length - 1; a >= 0; a--)
        {
            if (++coord[a] < sizes[a]) return true;
            coord[a] = 0;
        }
        return false;
    }

    /// <summary>NaN for floats (replaced by the first non-NaN tap), the smallest value for integers.</summary>
    private static T InitialMax<T>() where T : unmanaged, INumber<T>, IMinMaxValue<T> =>
        typeof(T) == typeof(float) ? (T)(object)float.NaN : typeof(T) == typeof(double) ? (T)(object)double.NaN : T.MinValue;

    /// <summary>Scalar max that also keeps the in-plane offset of the first maximum (the reference's rule).</summary>
    private static void CombineWithIndices<T>(T* acc, Span<long> arg, T* x, long firstOffset, long stride, int count) where T : unmanaged, INumber<T>
    {
        for (int i = 0; i < count; i++)
        {
            T v = x[i * stride];
            if (arg[i] < 0 || v > acc[i] || (T.IsNaN(acc[i]) && !T.IsNaN(v)))
            {
                acc[i] = v;
                arg[i] = firstOffset + i * stride;
            }
        }
    }

    /// <summary>
    /// Empty windows give the lowest value (max; <paramref name="valid"/> is empty when no output
    /// along the last axis has an empty window); averages divide by their tap counts (exact
    /// integers in T); Lp takes the p-th root.
    /// </summary>
    private void Finish<T>(Span<T> row, long outerValid, long outerPadded, ReadOnlySpan<int> valid,
        ReadOnlySpan<T> validCount, ReadOnlySpan<T> paddedCount, Span<T> divisor)
        where T : unmanaged, INumber<T>, IMinMaxValue<T>
    {
        switch (_d.Op)
        {
            case PoolOp.Max:
                T lowest = typeof(T) == typeof(float) ? (T)(object)float.NegativeInfinity : typeof(T) == typeof(double) ? (T)(object)double.NegativeInfinity : T.MinValue;
                if (outerValid == 0) row.Fill(lowest);
                else for (int o = 0; o < valid.Length; o++)
                        if (valid[o] == 0) row[o] = lowest;
                break;
            case PoolOp.Average:
                bool includePad = (_d.Flags & PoolFlags.CountIncludePad) != 0;
                TensorPrimitives.Multiply(includePad ? paddedCount : validCount, T.CreateTruncating(includePad ? outerPadded : outerValid), divisor);
                TensorPrimitives.Divide(row, divisor, row);
                break;
            default:
                if (typeof(T) == typeof(float)) Root(System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(row), _d.P);
                else Root(System.Runtime.InteropServices.MemoryMarshal.Cast<T, double>(row), _d.P);
                break;
        }
    }

    private static void Root<T>(Span<T> row, long p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (p == 1) return;
        if (p == 2) TensorPrimitives.Sqrt<T>(row, row);
        else TensorPrimitives.Pow<T>(row, T.One / T.CreateChecked(p), row);
    }

    /// <summary>Flat indices into X: the plane's base plus the in-plane offset, column-major within the plane when storage_order = 1.</summary>
    private void WriteIndices(long* target, ReadOnlySpan<long> arg, long planeBase, ReadOnlySpan<long> input)
    {
        bool columnMajor = (_d.Flags & PoolFlags.ColumnMajorIndices) != 0;
        Span<long> coord = stackalloc long[input.Length];
        for (int o = 0; o < arg.Length; o++)
        {
            long offset = Math.Max(arg[o], 0);
            if (columnMajor)
            {
                long rest = offset, columnOffset = 0, columnStride = 1;
                for (int a = input.Length - 1; a >= 0; a--) { coord[a] = rest % input[a]; rest /= input[a]; }
                for (int a = 0; a < input.Length; a++) { columnOffset += coord[a] * columnStride; columnStride *= input[a]; }
                offset = columnOffset;
            }
            target[o] = planeBase + offset;
        }
    }

    /// <summary>
    /// 2×2 stride-2 max pooling with every window inside the input: per output row, two input rows
    /// combined, then adjacent pairs (16 outputs from 32 columns of each row). NaN only when the
    /// whole window is NaN, as in the general path (MaxNumber ignores a NaN operand).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Max2x2(in DispatchState d, in WorkgroupState wg, in Geometry g)
    {
        var (start, end) = WorkSplit.Range(wg.X, d.WorkgroupCountX, g.Planes * g.OutRows);
        float* x = (float*)d.Binding(0).Data, y = (float*)d.Binding(1).Data;
        long inW = g.Input[1], outRows = g.OutRows;
        int width = (int)g.OutWidth;
        var evens = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        var odds = evens + Vector512<int>.One;
        for (long item = start; item < end; item++)
        {
            long plane = item / outRows, oh = item % outRows;
            float* r0 = x + plane * g.InPlane + 2 * oh * inW, r1 = r0 + inW, yRow = y + item * width;
            int ow = 0;
            if (Avx512F.IsSupported)
                for (; ow + 16 <= width && 2L * ow + 32 <= inW; ow += 16)
                {
                    var lo = Vector512.MaxNumber(Vector512.Load(r0 + 2 * ow), Vector512.Load(r1 + 2 * ow));
                    var hi = Vector512.MaxNumber(Vector512.Load(r0 + 2 * ow + 16), Vector512.Load(r1 + 2 * ow + 16));
                    Vector512.MaxNumber(Avx512F.PermuteVar16x32x2(lo, evens, hi), Avx512F.PermuteVar16x32x2(lo, odds, hi)).Store(yRow + ow);
                }
            for (; ow < width; ow++)
                yRow[ow] = float.MaxNumber(float.MaxNumber(r0[2 * ow], r0[2 * ow + 1]), float.MaxNumber(r1[2 * ow], r1[2 * ow + 1]));
        }
    }
}
