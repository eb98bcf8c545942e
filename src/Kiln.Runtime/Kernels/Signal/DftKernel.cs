using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Signal;

/// <summary>
/// The portable "dft" kernel: DFT along one axis of a signal whose last axis holds 1 (real) or 2
/// (re, im) values, computed in double with <see cref="FourierTransform"/>. Each line is cut or
/// zero-padded to the transform length n (dft_length, else the line's own length, or 2(m − 1)
/// for a half spectrum of m values read by an inverse onesided transform). onesided keeps the
/// first n/2 + 1 frequencies of a forward transform; inverse divides by n, and with onesided
/// completes the spectrum by Hermitian symmetry and returns the real part. Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 dtype (float) · u8 rank (2..8) · u8 inverse · u8 onesided
/// · u8 length dtype (0: no dft_length binding, else int32/int64) · u8 axis dtype (0: axis rank − 2, else int32/int64)
/// </code>
/// Bindings: x, dft_length (if any), axis (if any), y. Push constants: the dims of x, then of y.
/// The axis and the length are read at run time and must give y's compiled shape.
/// </summary>
public sealed unsafe class DftKernel : Kernel
{
    public const string KernelName = "dft";
    public const byte Version = 1;
    private const long ChunkWork = 64 * 1024;

    private readonly DType _dtype;
    private readonly int _rank;
    private readonly bool _inverse, _onesided;
    private readonly DType? _lengthType, _axisType;

    private DftKernel(DType dtype, int rank, bool inverse, bool onesided, DType? lengthType, DType? axisType) =>
        (_dtype, _rank, _inverse, _onesided, _lengthType, _axisType) = (dtype, rank, inverse, onesided, lengthType, axisType);

    /// <summary>A descriptor; a null length or axis dtype means that operand is absent (not bound).</summary>
    public static byte[] Encode(DType dtype, int rank, bool inverse, bool onesided, DType? lengthType, DType? axisType) =>
        new DescriptorWriter().U8(Version).U8((byte)dtype).U8(rank).U8(inverse ? 1 : 0).U8(onesided ? 1 : 0)
            .U8(lengthType is { } l ? (byte)l : 0).U8(axisType is { } a ? (byte)a : 0).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Float, "signal");
        int rank = r.ReadRank();
        if (rank < 2) throw r.Invalid($"rank {rank} leaves no signal axis beside the re/im axis");
        bool inverse = r.ReadFlag("inverse"), onesided = r.ReadFlag("onesided");
        var lengthType = ReadOptionalIndexType(ref r, "dft_length");
        var axisType = ReadOptionalIndexType(ref r, "axis");
        r.ExpectEnd();
        int bindings = 2 + (lengthType is null ? 0 : 1) + (axisType is null ? 0 : 1);
        DescriptorFields.CheckCounts(KernelName, bindingCount, bindings, constantCount, 2 * rank);
        return new DftKernel(dtype, rank, inverse, onesided, lengthType, axisType);
    }

    private static DType? ReadOptionalIndexType(ref DescriptorReader r, string what)
    {
        byte code = r.U8();
        return code == 0 ? null : code is (byte)DType.Int32 or (byte)DType.Int64 ? (DType)code : throw r.Invalid($"{what} dtype {code} is not int32 or int64");
    }

    public override string Name => KernelName;

    /// <summary>True when the result is the real signal of a half spectrum.</summary>
    private bool RealOutput => _inverse && _onesided;

    private int OutputBinding => 1 + (_lengthType is null ? 0 : 1) + (_axisType is null ? 0 : 1);

    /// <summary>Lines [outer, length, inner, channels] around the axis, and the transform length, read and checked against the compiled shapes.</summary>
    private readonly record struct Geometry(int Axis, long Outer, long Inner, long InputLength, long Channels, int N, long OutputLength)
    {
        public long Lines => Outer * Inner;
    }

    private Geometry Measure(in DispatchState d)
    {
        var input = d.ConstantSpan[.._rank];
        var output = d.ConstantSpan[_rank..];
        DispatchChecks.Product(input, KernelName, "input size");
        DispatchChecks.Product(output, KernelName, "output size");
        long axis = _axisType is { } at ? SignalOperands.ReadScalar(d, 1 + (_lengthType is null ? 0 : 1), at, KernelName, "axis") : -2;
        if (axis < 0) axis += _rank;
        if (axis < 0 || axis > _rank - 2) throw DispatchChecks.OutOfRange(KernelName, $"axis must be in [{-_rank}, -2] or [0, {_rank - 2}] for rank {_rank}");
        int a = (int)axis;
        long inputLength = input[a], channels = input[_rank - 1];
        if (channels is not (1 or 2)) throw DispatchChecks.OutOfRange(KernelName, $"the last input dimension must be 1 (real) or 2 (complex), got {channels}");
        long n = _lengthType is { } lt ? SignalOperands.ReadScalar(d, 1, lt, KernelName, "dft_length") : RealOutput ? 2 * (inputLength - 1) : inputLength;
        if (n < 1 || n > FourierTransform.MaxLength) throw DispatchChecks.OutOfRange(KernelName, $"the transform length {n} must be in [1, {FourierTransform.MaxLength}]");
        long outputLength = !_inverse && _onesided ? n / 2 + 1 : n;
        for (int i = 0; i < _rank; i++)
        {
            long expected = i == a ? outputLength : i == _rank - 1 ? (RealOutput ? 1 : 2) : input[i];
            if (output[i] != expected)
                throw DispatchChecks.OutOfRange(KernelName, i == a
                    ? $"the transform along axis {a} gives {outputLength} values at run time, but the result was compiled for {output[i]}"
                    : $"result dimension {i} is {output[i]}, the input (transformed along axis {a}) gives {expected}");
        }
        long outer = 1, inner = 1;
        for (int i = 0; i < a; i++) outer *= input[i];
        for (int i = a + 1; i < _rank - 1; i++) inner *= input[i];
        return new Geometry(a, outer, inner, inputLength, channels, (int)n, outputLength);
    }

    public override void Validate(in DispatchState d)
    {
        Measure(d);
        DispatchChecks.Fits(d, 0, DispatchChecks.Product(d.ConstantSpan[.._rank], KernelName, "input size"), _dtype.Size(), KernelName, "the input");
        DispatchChecks.Fits(d, OutputBinding, DispatchChecks.Product(d.ConstantSpan[_rank..], KernelName, "output size"), _dtype.Size(), KernelName, "the output");
    }

    /// <summary>Lines per workgroup: enough that building the transform's tables is shared by many.</summary>
    private static long LinesPerWorkgroup(int n) => Math.Max(1, ChunkWork / n);

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        var g = Measure(d);
        long per = LinesPerWorkgroup(g.N);
        return (g.Lines == 0 ? 0 : (int)Math.Min(int.MaxValue, (g.Lines + per - 1) / per), 1, 1);
    }

    public override int ScratchBytes(in DispatchState d)
    {
        int n = Measure(d).N;
        return (int)((FourierTransform.ScratchDoubles(n) + 2L * n) * sizeof(double));
    }

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        var g = Measure(d);
        int n = g.N;
        long per = LinesPerWorkgroup(n), first = wg.X * per, last = Math.Min(g.Lines, first + per);
        var fft = new FourierTransform(n, (double*)wg.Scratch);
        double* re = (double*)wg.Scratch + FourierTransform.ScratchDoubles(n), im = re + n;
        byte* x = d.Binding(0).Data, y = d.Binding(OutputBinding).Data;
        long outChannels = RealOutput ? 1 : 2;
        // A half spectrum needs only its first n/2 + 1 values; the rest mirror them.
        long count = Math.Min(g.InputLength, RealOutput ? n / 2 + 1 : n);
        for (long line = first; line < last; line++)
        {
            long o = line / g.Inner, i = line % g.Inner;
            new Span<double>(re, 2 * n).Clear();
            for (long t = 0; t < count; t++)
            {
                long at = ((o * g.InputLength + t) * g.Inner + i) * g.Channels;
                re[t] = SignalOperands.Load(_dtype, x, at);
                // The inverse is the conjugate of the forward transform of the conjugate.
                double imag = g.Channels == 2 ? SignalOperands.Load(_dtype, x, at + 1) : 0;
                im[t] = _inverse ? -imag : imag;
            }
            if (RealOutput)
                for (int k = n / 2 + 1; k < n; k++)
                {
                    re[k] = re[n - k];
                    im[k] = -im[n - k];
                }
            fft.Forward(re, im);
            double scale = _inverse ? 1.0 / n : 1;
            for (long k = 0; k < g.OutputLength; k++)
            {
                long at = ((o * g.OutputLength + k) * g.Inner + i) * outChannels;
                SignalOperands.Store(_dtype, y, at, re[k] * scale);
                if (!RealOutput) SignalOperands.Store(_dtype, y, at + 1, (_inverse ? -im[k] : im[k]) * scale);
            }
        }
    }
}
