using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>The auto_pad attribute of convolution and pooling.</summary>
public enum AutoPad { NotSet, SameUpper, SameLower, Valid }

/// <summary>
/// The sliding-window attributes of convolution and pooling over the spatial axes of an
/// [N, C, D1, ..., Dk] tensor: kernel size, strides, dilations, explicit pads (begin values, then
/// end values), auto_pad and ceil_mode. Read and checked once per node.
/// </summary>
public sealed class WindowAttributes
{
    public required long[] Kernel { get; init; }
    public required long[] Strides { get; init; }
    public required long[] Dilations { get; init; }
    /// <summary>Explicit pads: k begin values then k end values (zeros when absent).</summary>
    public required long[] Pads { get; init; }
    public required AutoPad AutoPad { get; init; }
    public bool CeilMode { get; init; }

    public int SpatialRank => Kernel.Length;

    /// <summary>The extent of the dilated kernel along an axis: (k - 1) * d + 1.</summary>
    public long DilatedKernel(int axis) => (Kernel[axis] - 1) * Dilations[axis] + 1;

    /// <summary>
    /// Reads the attributes of <paramref name="op"/>. <paramref name="kernel"/> is the kernel size
    /// implied by the weights (convolution), used when kernel_shape is absent; pooling passes null
    /// and then requires kernel_shape.
    /// </summary>
    public static WindowAttributes Read(Operation op, int spatialRank, long[]? kernel, bool allowCeilMode = false)
    {
        if (spatialRank < 1) throw Invalid(op, $"needs an input with at least one spatial axis (rank >= 3), got rank {spatialRank + 2}");
        var declared = op.GetInts("kernel_shape");
        if (declared is not null)
        {
            if (kernel is not null && !declared.AsSpan().SequenceEqual(kernel))
                throw Invalid(op, $"kernel_shape [{string.Join(",", declared)}] does not match the weights' kernel [{string.Join(",", kernel)}]");
            kernel = declared;
        }
        if (kernel is null) throw Invalid(op, "required attribute 'kernel_shape' is missing");
        var w = new WindowAttributes
        {
            Kernel = CheckLength(op, "kernel_shape", kernel, spatialRank, 1),
            Strides = CheckLength(op, "strides", op.GetInts("strides") ?? Ones(spatialRank), spatialRank, 1),
            Dilations = CheckLength(op, "dilations", op.GetInts("dilations") ?? Ones(spatialRank), spatialRank, 1),
            Pads = CheckLength(op, "pads", op.GetInts("pads") ?? new long[2 * spatialRank], 2 * spatialRank, 0),
            AutoPad = ReadAutoPad(op),
            CeilMode = allowCeilMode && op.GetInt("ceil_mode", 0) != 0,
        };
        return w;
    }

    public static AutoPad ReadAutoPad(Operation op) => op.GetString("auto_pad", "NOTSET") switch
    {
        "NOTSET" or "" => AutoPad.NotSet,
        "SAME_UPPER" => AutoPad.SameUpper,
        "SAME_LOWER" => AutoPad.SameLower,
        "VALID" => AutoPad.Valid,
        var s => throw Invalid(op, $"unknown auto_pad '{s}'"),
    };

    private static long[] Ones(int n) => Enumerable.Repeat(1L, n).ToArray();

    private static long[] CheckLength(Operation op, string name, long[] values, int length, long min)
    {
        if (values.Length != length)
            throw Invalid(op, $"'{name}' has {values.Length} values, the input's spatial axes need {length}");
        foreach (long v in values)
            if (v < min) throw Invalid(op, $"'{name}' value {v} must be at least {min}");
        return values;
    }

    private static KilnException Invalid(Operation op, string message) => new(ErrorCode.InvalidModel, $"{op.Describe()}: {message}");

    /// <summary>
    /// The output size along a spatial axis of convolution or pooling. Works on symbolic sizes too;
    /// ceil_mode's rule that no window may start in the end padding needs a known size, so a
    /// symbolic input with ceil_mode gives an unknown size.
    /// </summary>
    public Dim OutputSize(Dim input, int axis)
    {
        long stride = Strides[axis], extent = DilatedKernel(axis);
        switch (AutoPad)
        {
            case AutoPad.SameUpper or AutoPad.SameLower:
                return Dim.CeilDiv(input, stride);
            case AutoPad.Valid:
                return Dim.CeilDiv(input - extent + 1, stride);
        }
        Dim span = input + (Pads[axis] + Pads[axis + SpatialRank]) - extent;
        if (!CeilMode) return span / stride + 1;
        if (!input.TryGetValue(out long size)) return Dim.Unknown();
        long output = Dim.CeilDiv(span, stride).Value + 1;
        // The last window must start inside the input or the begin padding.
        if ((output - 1) * stride >= size + Pads[axis]) output--;
        return output;
    }

    /// <summary>The pads actually applied before and after an axis of the given input size.</summary>
    public (long Begin, long End) ResolvePads(long input, long output, int axis)
    {
        switch (AutoPad)
        {
            case AutoPad.Valid:
                return (0, 0);
            case AutoPad.SameUpper or AutoPad.SameLower:
                long total = Math.Max(0, (output - 1) * Strides[axis] + DilatedKernel(axis) - input);
                long small = total / 2, large = total - small;
                return AutoPad == AutoPad.SameUpper ? (small, large) : (large, small);
            default:
                return (Pads[axis], Pads[axis + SpatialRank]);
        }
    }

    /// <summary>The end pads of a resolved window (the begin pads are part of the geometry).</summary>
    public long[] PadEnds(WindowGeometry g) =>
        Enumerable.Range(0, SpatialRank).Select(a => ResolvePads(g.Input[a], g.Output[a], a).End).ToArray();

    /// <summary>The concrete geometry for an input of the given spatial sizes; throws if the output would be empty.</summary>
    public WindowGeometry Resolve(ReadOnlySpan<long> inputSpatial, Operation op)
    {
        int k = SpatialRank;
        var output = new long[k];
        var padBegin = new long[k];
        for (int i = 0; i < k; i++)
        {
            output[i] = OutputSize(inputSpatial[i], i).Value;
            if (output[i] < 1)
                throw new KilnException(ErrorCode.InvalidShape,
                    $"{op.Describe()}: spatial axis {i} of size {inputSpatial[i]} is too small for a window of extent {DilatedKernel(i)} (output size {output[i]})");
            padBegin[i] = ResolvePads(inputSpatial[i], output[i], i).Begin;
        }
        return new WindowGeometry(inputSpatial.ToArray(), output, Kernel, Strides, Dilations, padBegin);
    }

    /// <summary>Result shape [N, channels, output sizes...] for an input shape [N, C, spatial...].</summary>
    public Shape OutputShape(Shape input, Dim channels)
    {
        var dims = new Dim[SpatialRank + 2];
        dims[0] = input[0];
        dims[1] = channels;
        for (int i = 0; i < SpatialRank; i++) dims[i + 2] = OutputSize(input[i + 2], i);
        return new Shape(dims);
    }
}

/// <summary>
/// A resolved sliding window over concrete spatial sizes: output position o along an axis reads
/// input positions o * stride - padBegin + j * dilation for kernel taps j.
/// </summary>
public sealed record WindowGeometry(long[] Input, long[] Output, long[] Kernel, long[] Strides, long[] Dilations, long[] PadBegin)
{
    public int SpatialRank => Kernel.Length;
    public long InputPlane => Product(Input);
    public long OutputPlane => Product(Output);
    public long KernelSize => Product(Kernel);

    public static long Product(ReadOnlySpan<long> sizes)
    {
        long p = 1;
        foreach (long s in sizes) p *= s;
        return p;
    }

    /// <summary>The input coordinate read by output coordinate <paramref name="o"/> through tap <paramref name="j"/> on an axis.</summary>
    public long InputCoordinate(int axis, long o, long j) => o * Strides[axis] - PadBegin[axis] + j * Dilations[axis];

    /// <summary>
    /// The output positions [start, end) along an axis whose tap <paramref name="j"/> lands inside
    /// the input (empty when none does).
    /// </summary>
    public (long Start, long End) ValidOutputRange(int axis, long j)
    {
        long offset = j * Dilations[axis] - PadBegin[axis], stride = Strides[axis];
        // o * stride + offset in [0, input): o >= ceil(-offset / stride), o <= floor((input - 1 - offset) / stride).
        long start = Math.Max(0, -Dim.FloorDiv(offset, stride));
        long end = Math.Min(Output[axis], Dim.FloorDiv(Input[axis] - 1 - offset, stride) + 1);
        return (start, Math.Max(start, end));
    }
}
