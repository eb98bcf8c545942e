using System.Buffers.Binary;

namespace Kiln.Runtime.Kernels.Resize;

/// <summary>Where a resized axis's scale comes from.</summary>
public enum ScaleSource : byte
{
    /// <summary>Not resized: output coordinate o reads input coordinate o.</summary>
    Identity = 0,
    /// <summary>A scale known at compile time (the descriptor's value).</summary>
    Constant = 1,
    /// <summary>Element k of the scales binding (read at run time).</summary>
    Scales = 2,
    /// <summary>size / input size, the size being the descriptor's value or element k of the sizes binding; with a keep-aspect policy all such axes share the smallest or largest ratio.</summary>
    Sizes = 3,
}

public enum AspectPolicy : byte { Stretch = 0, NotLarger = 1, NotSmaller = 2 }

/// <summary>One axis of a resize: its scale source and its tf_crop_and_resize region (constant, or elements k and axes + k of the roi binding).</summary>
public readonly record struct ResizeAxis(ScaleSource Scale, bool RoiFromBinding, int K, double Value, double RoiStart, double RoiEnd);

/// <summary>
/// The descriptor of the "resize-nearest" and "resize-filter" kernels: Resize's attributes, how
/// each axis's scale and region are found (at compile time, or read from the roi / scales / sizes
/// tensors when the model computes them), and for the filter kernel the axis it resamples.
/// Encoding (little-endian):
/// <code>
/// u8 version(1) · u8 dtype · u8 mode · u8 coordinate mode · u8 nearest mode · u8 flags (1 exclude_outside, 2 antialias)
/// · u8 aspect policy · u8 rank · u8 pass axis · u8 final pass · u8 roi dtype (0: none) · u8 scales dtype (0: none) · u8 has sizes
/// · u16 axis count (the op's resized axes: the roi binding holds 2 × this many values) · f64 cubic a · f64 extrapolation value · u64 fill bits
/// · per dimension: u8 scale source · u8 roi from binding · u16 k · f64 value · f64 roi start · f64 roi end
/// </code>
/// Push constants: the input shape, then the output shape (2 × rank values). The filter kernel
/// resamples the pass axis of a tensor whose earlier resized axes already have their output
/// sizes; the final pass also gives the extrapolation value to every element outside the region.
/// Bindings: X, [roi], [scales], [sizes], Y.
/// </summary>
/// <param name="Extrapolation">tf_crop_and_resize's value outside the region, for the filter kernel (computing in float or double).</param>
/// <param name="FillBits">The same value as an element of X's dtype (its bits), for the nearest kernel, which copies bits.</param>
public sealed record ResizeDescriptor(DType DType, ResizeSampling Sampling, AspectPolicy Policy, int PassAxis, bool FinalPass,
    DType RoiDType, DType ScalesDType, bool HasSizes, int AxisCount, double Extrapolation, long FillBits, ResizeAxis[] Axes)
{
    public const byte Version = 1;
    public const int MaxRank = 8;
    public const byte NoPassAxis = 0xFF;

    public int Rank => Axes.Length;
    public bool HasRoi => RoiDType != 0;
    public bool HasScales => ScalesDType != 0;
    public int RoiBinding => 1;
    public int ScalesBinding => 1 + (HasRoi ? 1 : 0);
    public int SizesBinding => ScalesBinding + (HasScales ? 1 : 0);
    public int OutputBinding => SizesBinding + (HasSizes ? 1 : 0);
    public int BindingCount => OutputBinding + 1;
    public int ConstantCount => 2 * Rank;

    public static bool IsParameterDType(DType t) => t is DType.Float32 or DType.Float64 or DType.Float16;

    public byte[] Encode()
    {
        var bytes = new byte[40 + Rank * 28];
        var s = bytes.AsSpan();
        s[0] = Version;
        s[1] = (byte)DType;
        s[2] = (byte)Sampling.Mode;
        s[3] = (byte)Sampling.Coordinates;
        s[4] = (byte)Sampling.Nearest;
        s[5] = (byte)((Sampling.ExcludeOutside ? 1 : 0) | (Sampling.Antialias ? 2 : 0));
        s[6] = (byte)Policy;
        s[7] = (byte)Rank;
        s[8] = (byte)PassAxis;
        s[9] = (byte)(FinalPass ? 1 : 0);
        s[10] = (byte)RoiDType;
        s[11] = (byte)ScalesDType;
        s[12] = (byte)(HasSizes ? 1 : 0);
        BinaryPrimitives.WriteUInt16LittleEndian(s[13..], (ushort)AxisCount);
        s[15] = 0;
        BinaryPrimitives.WriteDoubleLittleEndian(s[16..], Sampling.CubicA);
        BinaryPrimitives.WriteDoubleLittleEndian(s[24..], Extrapolation);
        BinaryPrimitives.WriteInt64LittleEndian(s[32..], FillBits);
        int p = 40;
        foreach (var a in Axes)
        {
            s[p] = (byte)a.Scale;
            s[p + 1] = (byte)(a.RoiFromBinding ? 1 : 0);
            BinaryPrimitives.WriteUInt16LittleEndian(s[(p + 2)..], (ushort)a.K);
            BinaryPrimitives.WriteDoubleLittleEndian(s[(p + 4)..], a.Value);
            BinaryPrimitives.WriteDoubleLittleEndian(s[(p + 12)..], a.RoiStart);
            BinaryPrimitives.WriteDoubleLittleEndian(s[(p + 20)..], a.RoiEnd);
            p += 28;
        }
        return bytes;
    }

    public static ResizeDescriptor Decode(ReadOnlySpan<byte> data, string kernel)
    {
        var r = new DescriptorReader(data, kernel);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        byte dtype = r.U8(), mode = r.U8(), coordinates = r.U8(), nearest = r.U8(), flags = r.U8(), policy = r.U8(), rank = r.U8(), pass = r.U8(), final = r.U8();
        byte roi = r.U8(), scales = r.U8(), sizes = r.U8();
        int axisCount = r.U16();
        r.U8();
        double cubicA = F64(ref r), extrapolation = F64(ref r);
        long fillBits = r.I64();
        if (!DTypes.IsValid(dtype) || (DType)dtype is DType.Complex64 or DType.Complex128) throw r.Invalid($"dtype {dtype} is not supported");
        if (mode > (byte)ResizeMethod.Cubic || coordinates > (byte)CoordinateMode.TfCropAndResize || nearest > (byte)NearestMode.Ceil || policy > (byte)AspectPolicy.NotSmaller)
            throw r.Invalid("unknown mode, coordinate transformation, nearest mode or aspect policy");
        if ((flags & ~3) != 0 || final > 1 || sizes > 1) throw r.Invalid("unknown flags");
        if (rank is 0 or > MaxRank) throw r.Invalid($"rank {rank} is outside [1, {MaxRank}]");
        if (pass != NoPassAxis && pass >= rank) throw r.Invalid($"pass axis {pass} is outside the rank {rank}");
        if ((roi != 0 && !IsParameterDType((DType)roi)) || (scales != 0 && !IsParameterDType((DType)scales))) throw r.Invalid("roi and scales must be float16, float32 or float64");
        if (!double.IsFinite(cubicA)) throw r.Invalid($"cubic coefficient {cubicA} must be finite");
        var axes = new ResizeAxis[rank];
        for (int a = 0; a < rank; a++)
        {
            byte source = r.U8(), fromBinding = r.U8();
            int k = r.U16();
            double value = F64(ref r), start = F64(ref r), end = F64(ref r);
            if (source > (byte)ScaleSource.Sizes || fromBinding > 1) throw r.Invalid($"axis {a}: unknown scale or roi source");
            if ((source is (byte)ScaleSource.Scales && scales == 0) || (fromBinding == 1 && roi == 0)) throw r.Invalid($"axis {a}: reads a tensor that is not bound");
            if (source != (byte)ScaleSource.Identity && k >= axisCount) throw r.Invalid($"axis {a}: element {k} of {axisCount} resized axes");
            if (source == (byte)ScaleSource.Constant && !(value > 0 && double.IsFinite(value))) throw r.Invalid($"axis {a}: scale {value} must be positive and finite");
            axes[a] = new ResizeAxis((ScaleSource)source, fromBinding == 1, k, value, start, end);
        }
        r.ExpectEnd();
        var sampling = new ResizeSampling((ResizeMethod)mode, (CoordinateMode)coordinates, (NearestMode)nearest, cubicA, (flags & 1) != 0, (flags & 2) != 0);
        return new ResizeDescriptor((DType)dtype, sampling, (AspectPolicy)policy, pass, final == 1, (DType)roi, (DType)scales, sizes == 1, axisCount, extrapolation, fillBits, axes);
    }

    private static double F64(ref DescriptorReader r) => BitConverter.Int64BitsToDouble(r.I64());
}
