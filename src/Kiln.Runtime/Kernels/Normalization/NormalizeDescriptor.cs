using System.Buffers.Binary;

namespace Kiln.Runtime.Kernels.Normalization;

/// <summary>What a group is divided by, after (optionally) subtracting its mean.</summary>
public enum NormalizeKind : byte
{
    /// <summary>(x − mean) / sqrt(variance + ε): Layer, Instance, Group and Batch (training) normalization.</summary>
    Standardize = 0,
    /// <summary>x / sqrt(mean(x²) + ε): RMSNormalization.</summary>
    RootMeanSquare = 1,
    /// <summary>(x − mean) / (sqrt(variance) + ε): MeanVarianceNormalization (ε = 1e-9).</summary>
    MeanStdDev = 2,
    /// <summary>x / Σ|x| (0 where the norm is 0): LpNormalization p = 1.</summary>
    L1 = 3,
    /// <summary>x / sqrt(Σx²) (0 where the norm is 0): LpNormalization p = 2.</summary>
    L2 = 4,
}

/// <summary>How scale and bias apply to a group's members.</summary>
public enum NormalizeAffine : byte
{
    None = 0,
    /// <summary>scale[m], bias[m] for member m of the group (Layer and RMS normalization).</summary>
    PerMember = 1,
    /// <summary>
    /// scale[c], bias[c] with channel c = (group mod G)·CG + m / Inner: Instance (G = C, CG = 1)
    /// and Group normalization (G groups of CG channels, Inner spatial elements each).
    /// </summary>
    PerChannel = 2,
}

[Flags]
public enum NormalizeFlags : byte
{
    None = 0,
    Bias = 1,
    /// <summary>Writes each group's mean (a binding after Y).</summary>
    MeanOutput = 2,
    /// <summary>Writes each group's 1 / sqrt(variance + ε) (a binding after Y and the mean).</summary>
    InverseStdDevOutput = 4,
    /// <summary>Writes each group's variance instead of its inverse standard deviation (BatchNormalization training).</summary>
    VarianceOutput = 8,
}

/// <summary>
/// The descriptor of the "normalize" kernel. X is viewed as [K0, R0, K1, R1]; each (k0, k1) is a
/// group whose R0·R1 members (R0 runs of R1 contiguous elements) are normalized together. Every
/// layout of the normalization operators fits: LayerNormalization [rows, 1, 1, length],
/// InstanceNormalization [N·C, 1, 1, spatial], GroupNormalization [N·G, 1, 1, C/G·spatial],
/// MeanVarianceNormalization over axes (0, 2, 3) [1, N, C, H·W], LpNormalization along a middle
/// axis [outer, L, inner, 1]. Statistics are computed in double (two passes).
/// Encoding (little-endian):
/// <code>
/// u8 version(1) · u8 dtype (float32 | float64) · u8 kind · u8 affine · u8 flags · u8 statistics dtype · f64 epsilon
/// </code>
/// Push constants: K0, R0, K1, R1, and with per-channel affine G, CG, Inner.
/// Bindings: X, [scale], [bias], Y, [mean], [inverse std dev or variance] (scale and bias in X's dtype, statistics in theirs).
/// </summary>
public sealed record NormalizeDescriptor(DType DType, NormalizeKind Kind, NormalizeAffine Affine, NormalizeFlags Flags, DType StatisticsDType, double Epsilon)
{
    public const byte Version = 1;

    public bool HasScale => Affine != NormalizeAffine.None;
    public bool HasBias => (Flags & NormalizeFlags.Bias) != 0;
    public bool HasMean => (Flags & NormalizeFlags.MeanOutput) != 0;
    public bool HasDeviation => (Flags & (NormalizeFlags.InverseStdDevOutput | NormalizeFlags.VarianceOutput)) != 0;
    public int InputCount => 1 + (HasScale ? 1 : 0) + (HasBias ? 1 : 0);
    public int BindingCount => InputCount + 1 + (HasMean ? 1 : 0) + (HasDeviation ? 1 : 0);
    public int ConstantCount => Affine == NormalizeAffine.PerChannel ? 7 : 4;

    public byte[] Encode()
    {
        var bytes = new byte[14];
        bytes[0] = Version;
        bytes[1] = (byte)DType;
        bytes[2] = (byte)Kind;
        bytes[3] = (byte)Affine;
        bytes[4] = (byte)Flags;
        bytes[5] = (byte)StatisticsDType;
        BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(6), Epsilon);
        return bytes;
    }

    public static NormalizeDescriptor Decode(ReadOnlySpan<byte> data)
    {
        var r = new DescriptorReader(data, NormalizeKernel.KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        byte dtype = r.U8(), kind = r.U8(), affine = r.U8(), flags = r.U8(), statistics = r.U8();
        double epsilon = BitConverter.Int64BitsToDouble(r.I64());
        r.ExpectEnd();
        if (dtype is not ((byte)DType.Float32 or (byte)DType.Float64)) throw r.Invalid($"dtype {dtype} is not float32 or float64");
        if (statistics is not ((byte)DType.Float32 or (byte)DType.Float64)) throw r.Invalid($"statistics dtype {statistics} is not float32 or float64");
        if (kind > (byte)NormalizeKind.L2) throw r.Invalid($"unknown kind {kind}");
        if (affine > (byte)NormalizeAffine.PerChannel) throw r.Invalid($"unknown affine mode {affine}");
        if ((flags & ~15) != 0) throw r.Invalid($"unknown flags {flags}");
        var f = (NormalizeFlags)flags;
        if ((f & NormalizeFlags.Bias) != 0 && affine == (byte)NormalizeAffine.None) throw r.Invalid("a bias needs an affine mode");
        if ((f & NormalizeFlags.InverseStdDevOutput) != 0 && (f & NormalizeFlags.VarianceOutput) != 0) throw r.Invalid("inverse std dev and variance outputs exclude each other");
        if (!double.IsFinite(epsilon) || epsilon < 0) throw r.Invalid($"epsilon {epsilon} must be finite and not negative");
        return new NormalizeDescriptor((DType)dtype, (NormalizeKind)kind, (NormalizeAffine)affine, f, (DType)statistics, epsilon);
    }
}
