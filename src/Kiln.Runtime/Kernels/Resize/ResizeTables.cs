using Kiln.Runtime.Hal;
using Kiln.Runtime.Kernels.Support;

namespace Kiln.Runtime.Kernels.Resize;

/// <summary>The sampling table of one axis, built in a workgroup's scratch.</summary>
internal unsafe struct AxisTable
{
    public bool Resized;
    /// <summary>Every output copies the input of the same index (the axis needs no work).</summary>
    public bool Identity;
    public int Taps;
    /// <summary>output × taps input indices and weights, and one "outside the region" flag per output.</summary>
    public int* Index;
    public double* Weight;
    public bool* Outside;
}

/// <summary>
/// What the two resize kernels share: each axis's scale and region (from the descriptor or read
/// from the roi / scales / sizes bindings), the checks that the model's run-time scales or sizes
/// give the output shape the program was compiled for, and the per-axis sampling tables.
/// </summary>
internal static unsafe class ResizeTables
{
    /// <summary>A guard against absurd tables (a huge antialiased downscale): at most this many taps per axis.</summary>
    private const long MaxTableEntries = 1 << 26;

    public static ReadOnlySpan<long> Input(in DispatchState d, ResizeDescriptor r) => d.ConstantSpan[..r.Rank];
    public static ReadOnlySpan<long> Output(in DispatchState d, ResizeDescriptor r) => d.ConstantSpan.Slice(r.Rank, r.Rank);

    /// <summary>
    /// Checks the shape constants, the parameter bindings, and that the run-time parameters give
    /// the compiled output shape; throws OutOfRange with a message naming the kernel. (The
    /// kernels check X and Y themselves: a filter pass reads and writes intermediate shapes.)
    /// </summary>
    public static void ValidateParameters(string kernel, ResizeDescriptor r, in DispatchState d)
    {
        var c = d.ConstantSpan;
        foreach (long v in c) KernelChecks.Size(kernel, v, "a dimension");
        KernelChecks.Product(kernel, Input(d, r));
        long outputCount = KernelChecks.Product(kernel, Output(d, r));
        if (r.HasRoi) KernelChecks.Holds(kernel, d, r.RoiBinding, 2L * r.AxisCount, r.RoiDType.Size(), "roi");
        if (r.HasScales) KernelChecks.Holds(kernel, d, r.ScalesBinding, r.AxisCount, r.ScalesDType.Size(), "scales");
        if (r.HasSizes) KernelChecks.Holds(kernel, d, r.SizesBinding, r.AxisCount, sizeof(long), "sizes");
        if (outputCount == 0) return;

        Span<double> scale = stackalloc double[r.Rank];
        Span<double> start = stackalloc double[r.Rank];
        Span<double> end = stackalloc double[r.Rank];
        Resolve(r, d, scale, start, end);
        var input = Input(d, r);
        var output = Output(d, r);
        long entries = 0;
        for (int a = 0; a < r.Rank; a++)
        {
            var axis = r.Axes[a];
            if (axis.Scale == ScaleSource.Identity)
            {
                if (input[a] != output[a]) throw KernelChecks.Error(kernel, $"axis {a} is not resized but has input size {input[a]} and output size {output[a]}");
                continue;
            }
            if (input[a] == 0) throw KernelChecks.Error(kernel, $"cannot resize empty axis {a} to {output[a]}");
            if (!(scale[a] > 0 && double.IsFinite(scale[a]))) throw KernelChecks.Error(kernel, $"axis {a}: scale {scale[a]} must be positive and finite");
            long expected = axis.Scale == ScaleSource.Sizes && r.Policy != AspectPolicy.Stretch ? (long)Math.Floor(scale[a] * input[a] + 0.5)
                : axis.Scale == ScaleSource.Sizes ? (long)SizeOf(r, d, a) : (long)Math.Floor(input[a] * scale[a]);
            if (expected != output[a])
                throw KernelChecks.Error(kernel, $"the model's scales or sizes resize axis {a} from {input[a]} to {expected}, the compiled program expects {output[a]}");
            entries += Math.Min(MaxTableEntries + 1, output[a] * (long)r.Sampling.TapCount(scale[a]));
            if (entries > MaxTableEntries) throw KernelChecks.Error(kernel, $"sampling tables of more than {MaxTableEntries} taps (an extreme antialiased downscale)");
        }
    }

    /// <summary>Each axis's scale and tf_crop_and_resize region, as the reference computes them.</summary>
    public static void Resolve(ResizeDescriptor r, in DispatchState d, Span<double> scale, Span<double> start, Span<double> end)
    {
        var input = Input(d, r);
        double common = r.Policy == AspectPolicy.NotLarger ? double.PositiveInfinity : double.NegativeInfinity;
        for (int a = 0; a < r.Rank; a++)
        {
            var axis = r.Axes[a];
            scale[a] = axis.Scale switch
            {
                ScaleSource.Identity => 1,
                ScaleSource.Constant => axis.Value,
                ScaleSource.Scales => Read(d.Binding(r.ScalesBinding).Data, r.ScalesDType, axis.K),
                _ => SizeOf(r, d, a) / (double)input[a],
            };
            if (axis.Scale == ScaleSource.Sizes)
                common = r.Policy == AspectPolicy.NotLarger ? Math.Min(common, scale[a]) : Math.Max(common, scale[a]);
            (start[a], end[a]) = axis.RoiFromBinding
                ? (Read(d.Binding(r.RoiBinding).Data, r.RoiDType, axis.K), Read(d.Binding(r.RoiBinding).Data, r.RoiDType, r.AxisCount + axis.K))
                : (axis.RoiStart, axis.RoiEnd);
        }
        if (r.Policy == AspectPolicy.Stretch) return;
        for (int a = 0; a < r.Rank; a++)
            if (r.Axes[a].Scale == ScaleSource.Sizes) scale[a] = common;
    }

    private static double SizeOf(ResizeDescriptor r, in DispatchState d, int a) =>
        r.HasSizes ? ((long*)d.Binding(r.SizesBinding).Data)[r.Axes[a].K] : r.Axes[a].Value;

    private static double Read(byte* p, DType t, int i) => t switch
    {
        DType.Float64 => ((double*)p)[i],
        DType.Float16 => (double)((Half*)p)[i],
        _ => ((float*)p)[i],
    };

    /// <summary>Scratch bytes for the tables of every resized axis (after <see cref="Validate"/>).</summary>
    public static int ScratchBytes(ResizeDescriptor r, in DispatchState d)
    {
        Span<double> scale = stackalloc double[r.Rank];
        Span<double> start = stackalloc double[r.Rank];
        Span<double> end = stackalloc double[r.Rank];
        Resolve(r, d, scale, start, end);
        var output = Output(d, r);
        long bytes = 0;
        for (int a = 0; a < r.Rank; a++)
            if (r.Axes[a].Scale != ScaleSource.Identity) bytes += AxisBytes(output[a], r.Sampling.TapCount(scale[a]));
        return checked((int)bytes);
    }

    /// <summary>Taps per output along an axis (its scale resolved).</summary>
    public static int TapCount(ResizeDescriptor r, in DispatchState d, int axis)
    {
        Span<double> scale = stackalloc double[r.Rank];
        Span<double> start = stackalloc double[r.Rank];
        Span<double> end = stackalloc double[r.Rank];
        Resolve(r, d, scale, start, end);
        return r.Sampling.TapCount(scale[axis]);
    }

    private static long AxisBytes(long output, int taps) => (output * taps * (sizeof(double) + sizeof(int)) + output + 7) & ~7L;

    /// <summary>Builds the table of every resized axis in scratch.</summary>
    public static void Build(ResizeDescriptor r, in DispatchState d, byte* scratch, Span<AxisTable> tables)
    {
        Span<double> scale = stackalloc double[r.Rank];
        Span<double> start = stackalloc double[r.Rank];
        Span<double> end = stackalloc double[r.Rank];
        Resolve(r, d, scale, start, end);
        var input = Input(d, r);
        var output = Output(d, r);
        for (int a = 0; a < r.Rank; a++)
        {
            if (r.Axes[a].Scale == ScaleSource.Identity) { tables[a] = new AxisTable { Identity = true, Taps = 1 }; continue; }
            int taps = r.Sampling.TapCount(scale[a]), entries = (int)(output[a] * taps);
            var t = new AxisTable { Resized = true, Taps = taps, Weight = (double*)scratch };
            t.Index = (int*)(scratch + entries * sizeof(double));
            t.Outside = (bool*)(t.Index + entries);
            t.Identity = ResizeAxisMap.Build(r.Sampling, input[a], output[a], scale[a], start[a], end[a],
                new Span<int>(t.Index, entries), new Span<double>(t.Weight, entries), new Span<bool>(t.Outside, (int)output[a]));
            tables[a] = t;
            scratch += AxisBytes(output[a], taps);
        }
    }
}
