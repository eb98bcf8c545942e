using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Kernels.Support;

namespace Kiln.Runtime.Kernels.Resize;

/// <summary>
/// The portable "resize-filter" kernel (<see cref="ResizeDescriptor"/>, modes linear and cubic):
/// one pass of the separable resize, along the descriptor's pass axis (passes go in axis order,
/// so the axes before it already have their output sizes). The tensor is viewed as
/// [outer, in, inner] → [outer, out, inner]; each output row of inner elements sums its taps'
/// input rows times their weights in X's type, in tap order (x·w + acc, unfused, as the reference
/// does, so results match it bit for bit). An axis that maps every output to itself is a copy;
/// outputs outside a tf_crop_and_resize region are 0, and the final pass gives every element
/// outside the region on any axis the extrapolation value. float32 and float64.
/// </summary>
public sealed unsafe class ResizeFilterKernel : Kernel
{
    public const string KernelName = "resize-filter";

    private readonly ResizeDescriptor _r;

    private ResizeFilterKernel(ResizeDescriptor r) => _r = r;

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = ResizeDescriptor.Decode(descriptor, KernelName);
        if (r.Sampling.Mode == ResizeMethod.Nearest || r.PassAxis == ResizeDescriptor.NoPassAxis || r.DType is not (DType.Float32 or DType.Float64))
            throw new KilnRuntimeException(StatusCode.InvalidModule, $"{KernelName}: the descriptor is not a float32 or float64 linear or cubic pass");
        if (bindingCount != r.BindingCount || constantCount != r.ConstantCount)
            throw new KilnRuntimeException(StatusCode.InvalidModule, $"{KernelName}: {bindingCount} bindings and {constantCount} constants; the descriptor needs {r.BindingCount} and {r.ConstantCount}");
        if (r.Axes[r.PassAxis].Scale == ScaleSource.Identity)
            throw new KilnRuntimeException(StatusCode.InvalidModule, $"{KernelName}: the pass axis {r.PassAxis} is not resized");
        return new ResizeFilterKernel(r);
    }

    public override string Name => KernelName;

    /// <summary>The pass's view: its input is X with the axes before the pass axis already resized.</summary>
    private readonly ref struct Pass
    {
        public readonly long Outer, In, Out, Inner;

        public Pass(ReadOnlySpan<long> input, ReadOnlySpan<long> output, int axis)
        {
            Outer = 1;
            Inner = 1;
            for (int a = 0; a < axis; a++) Outer *= output[a];
            for (int a = axis + 1; a < input.Length; a++) Inner *= input[a];
            (In, Out) = (input[axis], output[axis]);
        }
    }

    public override void Validate(in DispatchState d)
    {
        ResizeTables.ValidateParameters(KernelName, _r, d);
        // This pass reads a tensor already resized on the earlier axes.
        var input = ResizeTables.Input(d, _r);
        var output = ResizeTables.Output(d, _r);
        Span<long> passInput = stackalloc long[_r.Rank];
        Span<long> passOutput = stackalloc long[_r.Rank];
        for (int a = 0; a < _r.Rank; a++)
        {
            passInput[a] = KernelChecks.Size(KernelName, a < _r.PassAxis ? output[a] : input[a], "a dimension");
            passOutput[a] = KernelChecks.Size(KernelName, a <= _r.PassAxis ? output[a] : input[a], "a dimension");
        }
        KernelChecks.Holds(KernelName, d, 0, KernelChecks.Product(KernelName, passInput), _r.DType.Size(), "X");
        KernelChecks.Holds(KernelName, d, _r.OutputBinding, KernelChecks.Product(KernelName, passOutput), _r.DType.Size(), "Y");
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        var p = new Pass(ResizeTables.Input(d, _r), ResizeTables.Output(d, _r), _r.PassAxis);
        return (WorkSplit.Groups(p.Outer * p.Out, 4 * p.Inner, env), 1, 1);
    }

    /// <summary>The sampling tables, then the pass axis's weights (converted to X's type) and indices, tap-major.</summary>
    public override int ScratchBytes(in DispatchState d) =>
        ResizeTables.ScratchBytes(_r, d) + (int)ResizeTables.Output(d, _r)[_r.PassAxis] * ResizeTables.TapCount(_r, d, _r.PassAxis) * (sizeof(double) + sizeof(int));

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        if (_r.DType == DType.Float32) Run<float>(d, wg);
        else Run<double>(d, wg);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Run<T>(in DispatchState d, in WorkgroupState wg) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var output = ResizeTables.Output(d, _r);
        Span<AxisTable> tables = stackalloc AxisTable[_r.Rank];
        ResizeTables.Build(_r, d, wg.Scratch, tables);
        int axis = _r.PassAxis;
        var t = tables[axis];
        var p = new Pass(ResizeTables.Input(d, _r), output, axis);
        // Weights in T (converted once, as the reference converts each) and indices, tap-major: tap k of output o at k·out + o.
        T* weights = (T*)(wg.Scratch + ResizeTables.ScratchBytes(_r, d));
        int* indices = (int*)(weights + p.Out * t.Taps);
        bool anyOutside = false;
        for (long o = 0; o < p.Out; o++)
        {
            anyOutside |= t.Outside[o];
            for (int k = 0; k < t.Taps; k++)
            {
                weights[k * p.Out + o] = T.CreateTruncating(t.Weight[o * t.Taps + k]);
                indices[k * p.Out + o] = t.Index[o * t.Taps + k];
            }
        }
        var table = new TapTable<T>(weights, indices, t.Outside, t.Taps, p.Out, anyOutside);
        T* x = (T*)d.Binding(0).Data, y = (T*)d.Binding(_r.OutputBinding).Data;
        bool fillOutside = _r.FinalPass && _r.Sampling.Coordinates == CoordinateMode.TfCropAndResize;
        T extrapolation = T.CreateTruncating(_r.Extrapolation);
        var (start, end) = WorkSplit.Range(wg.X, d.WorkgroupCountX, p.Outer * p.Out);
        long n = start / p.Out, first = start % p.Out, inner = p.Inner;
        // Runs of outputs that share their outer index n.
        for (long item = start; item < end; n++, first = 0)
        {
            long count = Math.Min(p.Out - first, end - item);
            T* source = x + n * p.In * inner;
            T* target = y + (n * p.Out + first) * inner;
            if (t.Identity) new ReadOnlySpan<T>(source + first * inner, (int)(count * inner)).CopyTo(new Span<T>(target, (int)(count * inner)));
            else if (inner == 1) FilterPoints(source, target, table, first, count);
            else FilterRows(source, target, table, first, count, (int)inner);
            if (fillOutside)
                for (long o = first; o < first + count; o++)
                    if (OutsideRegion(tables, output, axis, n, o)) new Span<T>(target + (o - first) * inner, (int)inner).Fill(extrapolation);
            item += count;
        }
    }

    /// <summary>The pass axis's taps, tap-major (tap k of output o at k·Out + o).</summary>
    private readonly struct TapTable<T>(T* weights, int* indices, bool* outside, int taps, long outputs, bool anyOutside) where T : unmanaged
    {
        public readonly T* Weights = weights;
        public readonly int* Indices = indices;
        public readonly bool* Outside = outside;
        public readonly int Taps = taps;
        public readonly long Outputs = outputs;
        public readonly bool AnyOutside = anyOutside;
    }

    /// <summary>
    /// Resampling the innermost axis: each output is a short dot product of gathered inputs. With
    /// AVX2, eight float outputs at a time gather their taps; the sums run in the same order (a
    /// multiply, then an add onto the partial sum), so they equal the scalar ones.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FilterPoints<T>(T* source, T* target, in TapTable<T> t, long first, long count) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long o = first, end = first + count;
        if (typeof(T) == typeof(float) && Avx2.IsSupported && !t.AnyOutside)
        {
            var weights = (float*)t.Weights;
            for (; o + Vector256<float>.Count <= end; o += Vector256<float>.Count, target += Vector256<float>.Count)
            {
                var sum = Vector256<float>.Zero;
                for (int k = 0; k < t.Taps; k++)
                {
                    var values = Avx2.GatherVector256((float*)source, Vector256.Load(t.Indices + k * t.Outputs + o), sizeof(float));
                    sum += Vector256.Load(weights + k * t.Outputs + o) * values;
                }
                sum.Store((float*)target);
            }
        }
        for (; o < end; o++)
        {
            T sum = T.Zero;
            if (!t.Outside[o])
                for (int k = 0; k < t.Taps; k++) sum += t.Weights[k * t.Outputs + o] * source[t.Indices[k * t.Outputs + o]];
            *target++ = sum;
        }
    }

    /// <summary>Resampling an outer axis: each output row is a weighted sum of whole input rows (vector loops over the inner elements).</summary>
    private static void FilterRows<T>(T* source, T* target, in TapTable<T> t, long first, long count, int inner) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (long o = first; o < first + count; o++, target += inner)
        {
            var row = new Span<T>(target, inner);
            row.Clear();
            if (t.Outside[o]) continue;
            for (int k = 0; k < t.Taps; k++)
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<T>(source + (long)t.Indices[k * t.Outputs + o] * inner, inner), t.Weights[k * t.Outputs + o], row, row);
        }
    }

    /// <summary>Whether output row (n, o) of the final pass lies outside the region on the pass axis or on an earlier one.</summary>
    private static bool OutsideRegion(ReadOnlySpan<AxisTable> tables, ReadOnlySpan<long> output, int axis, long n, long o)
    {
        if (tables[axis].Resized && tables[axis].Outside[o]) return true;
        for (int a = axis - 1; a >= 0; a--)
        {
            long coord = n % output[a];
            n /= output[a];
            if (tables[a].Resized && tables[a].Outside[coord]) return true;
        }
        return false;
    }
}
