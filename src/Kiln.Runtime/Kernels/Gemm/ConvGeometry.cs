using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Gemm;

/// <summary>
/// The static part of a convolution window, from a kernel descriptor: spatial rank (1 to 3) and,
/// per axis, kernel size, stride and dilation. Axes are stored as three (depth, height, width);
/// a lower rank fills the leading axes with 1. Encoding: <c>u8 rank · per axis: u32 kernel · u32 stride · u32 dilation</c>.
/// Immutable.
/// </summary>
public sealed class ConvWindow
{
    public const int Axes = 3;
    /// <summary>Bound on kernel sizes, strides and dilations (keeps coordinate arithmetic far inside int).</summary>
    public const int MaxWindow = 1 << 16;

    public int Rank { get; }
    public int[] Kernel { get; }
    public int[] Strides { get; }
    public int[] Dilations { get; }

    public ConvWindow(int rank, int[] kernel, int[] strides, int[] dilations)
    {
        if (rank is < 1 or > Axes || kernel.Length != rank || strides.Length != rank || dilations.Length != rank)
            throw new ArgumentException("a convolution window has 1 to 3 axes with one kernel size, stride and dilation each");
        Rank = rank;
        Kernel = Pad(kernel);
        Strides = Pad(strides);
        Dilations = Pad(dilations);
    }

    private int[] Pad(int[] values) => [.. Enumerable.Repeat(1, Axes - Rank), .. values];

    /// <summary>Taps of the window (product of the kernel sizes).</summary>
    public int Taps => Kernel[0] * Kernel[1] * Kernel[2];

    public void Encode(List<byte> output)
    {
        output.Add((byte)Rank);
        Span<byte> u = stackalloc byte[4];
        for (int a = Axes - Rank; a < Axes; a++)
            foreach (int v in new[] { Kernel[a], Strides[a], Dilations[a] })
            {
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(u, (uint)v);
                output.AddRange(u);
            }
    }

    public static ConvWindow Decode(ref DescriptorReader r)
    {
        int rank = r.U8();
        if (rank is < 1 or > Axes) throw r.Invalid($"spatial rank {rank} (1 to 3 supported)");
        var kernel = new int[rank];
        var strides = new int[rank];
        var dilations = new int[rank];
        for (int a = 0; a < rank; a++)
        {
            kernel[a] = Bounded(ref r, "kernel size");
            strides[a] = Bounded(ref r, "stride");
            dilations[a] = Bounded(ref r, "dilation");
        }
        return new ConvWindow(rank, kernel, strides, dilations);
    }

    private static int Bounded(ref DescriptorReader r, string what)
    {
        uint v = r.U32();
        if (v is 0 or > MaxWindow) throw r.Invalid($"{what} {v} is outside [1, {MaxWindow}]");
        return (int)v;
    }

    public override string ToString() =>
        $"kernel {string.Join("x", Kernel[(Axes - Rank)..])} stride {string.Join("x", Strides[(Axes - Rank)..])} dilation {string.Join("x", Dilations[(Axes - Rank)..])}";
}

/// <summary>
/// A convolution window over concrete sizes: the window plus input sizes, output sizes and begin
/// pads per axis (push constants <c>in[rank] · out[rank] · padBegin[rank]</c>). Output position o
/// along an axis reads input positions o·stride − pad + t·dilation for taps t; positions outside
/// the input read zero. Plain data, created per dispatch.
/// </summary>
public readonly struct ConvGeometry
{
    public readonly int InD, InH, InW, OutD, OutH, OutW, PadD, PadH, PadW;
    public readonly int KD, KH, KW, SD, SH, SW, DD, DH, DW;

    /// <summary>Bound on spatial sizes and pads so every coordinate computed stays inside int.</summary>
    public const int MaxExtent = 1 << 30;

    private ConvGeometry(ConvWindow w, ReadOnlySpan<long> input, ReadOnlySpan<long> output, ReadOnlySpan<long> pads)
    {
        KD = w.Kernel[0]; KH = w.Kernel[1]; KW = w.Kernel[2];
        SD = w.Strides[0]; SH = w.Strides[1]; SW = w.Strides[2];
        DD = w.Dilations[0]; DH = w.Dilations[1]; DW = w.Dilations[2];
        InD = (int)input[0]; InH = (int)input[1]; InW = (int)input[2];
        OutD = (int)output[0]; OutH = (int)output[1]; OutW = (int)output[2];
        PadD = (int)pads[0]; PadH = (int)pads[1]; PadW = (int)pads[2];
    }

    /// <summary>A geometry from sizes already known to be in range (benchmarks and tests; kernels use <see cref="Read"/>).</summary>
    public static ConvGeometry Of(ConvWindow w, long[] input, long[] output, long[] pads)
    {
        int lead = ConvWindow.Axes - w.Rank;
        long[] Full(long[] v, long fill) => [.. Enumerable.Repeat(fill, lead), .. v];
        return new ConvGeometry(w, Full(input, 1), Full(output, 1), Full(pads, 0));
    }

    public long InputPlane => (long)InD * InH * InW;
    public long OutputPlane => (long)OutD * OutH * OutW;

    /// <summary>1×1(×1) window, unit strides, no padding, same sizes: the input plane is the GEMM's B as it lies.</summary>
    public bool IsPointwise => KD == 1 && KH == 1 && KW == 1 && SD == 1 && SH == 1 && SW == 1
        && PadD == 0 && PadH == 0 && PadW == 0 && InD == OutD && InH == OutH && InW == OutW;

    /// <summary>The push constants this geometry takes (3 per axis of the window's rank).</summary>
    public static int ConstantCount(ConvWindow w) => 3 * w.Rank;

    /// <summary>
    /// Reads and checks the sizes at push constants [first, first + 3·rank): non-negative sizes up
    /// to <see cref="MaxExtent"/>, pads within ±<see cref="MaxExtent"/>, planes of at most 2^31
    /// elements, and no coordinate (size·stride + kernel·dilation + pad) that overflows.
    /// </summary>
    public static ConvGeometry Read(ConvWindow w, in DispatchState d, int first)
    {
        Span<long> input = [1, 1, 1], output = [1, 1, 1], pads = [0, 0, 0];
        int lead = ConvWindow.Axes - w.Rank;
        for (int a = 0; a < w.Rank; a++)
        {
            input[lead + a] = d.Constant(first + a);
            output[lead + a] = d.Constant(first + w.Rank + a);
            pads[lead + a] = d.Constant(first + 2 * w.Rank + a);
        }
        for (int a = 0; a < ConvWindow.Axes; a++)
        {
            if (input[a] is < 0 or > MaxExtent || output[a] is < 0 or > MaxExtent || Math.Abs(pads[a]) > MaxExtent)
                throw new KilnRuntimeException(StatusCode.OutOfRange, $"convolution: sizes ({input[a]} in, {output[a]} out, pad {pads[a]}) out of range");
            // Conv maps output to input positions, ConvTranspose input to output: bound both.
            if ((input[a] + output[a]) * w.Strides[a] + (long)w.Kernel[a] * w.Dilations[a] + Math.Abs(pads[a]) >= int.MaxValue)
                throw new KilnRuntimeException(StatusCode.OutOfRange, "convolution: window coordinates overflow");
        }
        if (input[0] * input[1] * input[2] > int.MaxValue || output[0] * output[1] * output[2] > int.MaxValue)
            throw new KilnRuntimeException(StatusCode.OutOfRange, "convolution: a spatial plane has more than 2^31 elements");
        return new ConvGeometry(w, input, output, pads);
    }
}
