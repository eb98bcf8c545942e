using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Signal;

/// <summary>
/// The portable "melweights" kernel: MelWeightMatrix, [dft_length/2 + 1, num_mel_bins] triangular
/// filters mapping a onesided spectrum to mel bins. num_mel_bins + 2 edges are spaced evenly on
/// the mel scale by (upper − lower)/(num_mel_bins + 2) from the lower edge and snapped down to
/// spectrum bins; filter m rises from edge m to 1 at edge m + 1 and falls to 0 at edge m + 2 (the
/// spec's reference). Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 integer operand dtype (int32/int64) · u8 edge dtype (float) · u8 element dtype (numeric)
/// </code>
/// Bindings: num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz (one value
/// each), y. Push constants: the compiled bins and mel bins, which the operands must give.
/// </summary>
public sealed unsafe class MelWeightsKernel : Kernel
{
    public const string KernelName = "melweights";
    public const byte Version = 1;

    private readonly DType _intType, _edgeType, _dtype;

    private MelWeightsKernel(DType intType, DType edgeType, DType dtype) => (_intType, _edgeType, _dtype) = (intType, edgeType, dtype);

    public static byte[] Encode(DType intType, DType edgeType, DType dtype) =>
        new DescriptorWriter().U8(Version).U8((byte)intType).U8((byte)edgeType).U8((byte)dtype).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var intType = r.ReadDType(DTypeKind.Index, "integer operand");
        var edgeType = r.ReadDType(DTypeKind.Float, "edge");
        var dtype = r.ReadDType(DTypeKind.Numeric, "element");
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 6, constantCount, 2);
        return new MelWeightsKernel(intType, edgeType, dtype);
    }

    public override string Name => KernelName;

    private readonly record struct Parameters(long Mels, long DftLength, long SampleRate, double Lower, double Upper)
    {
        public long Bins => DftLength / 2 + 1;
    }

    private Parameters Read(in DispatchState d)
    {
        long mels = SignalOperands.ReadScalar(d, 0, _intType, KernelName, "num_mel_bins");
        long dftLength = SignalOperands.ReadScalar(d, 1, _intType, KernelName, "dft_length");
        long sampleRate = SignalOperands.ReadScalar(d, 2, _intType, KernelName, "sample_rate");
        double lower = ReadEdge(d, 3, "lower_edge_hertz"), upper = ReadEdge(d, 4, "upper_edge_hertz");
        if (mels < 1 || dftLength < 1 || sampleRate < 1 || !(lower >= 0 && lower < upper))
            throw DispatchChecks.OutOfRange(KernelName, $"needs positive num_mel_bins ({mels}), dft_length ({dftLength}) and sample_rate ({sampleRate}), and 0 <= lower_edge_hertz ({lower}) < upper_edge_hertz ({upper})");
        return new Parameters(mels, dftLength, sampleRate, lower, upper);
    }

    private double ReadEdge(in DispatchState d, int binding, string what)
    {
        ref readonly var b = ref d.Binding(binding);
        if (b.Length != _edgeType.Size()) throw DispatchChecks.OutOfRange(KernelName, $"{what} must be one {_edgeType.Name()} value, its binding has {b.Length} bytes");
        return SignalOperands.Load(_edgeType, b.Data, 0);
    }

    public override void Validate(in DispatchState d)
    {
        long bins = d.Constant(0), mels = d.Constant(1);
        var p = Read(d);
        if (p.Bins != bins || p.Mels != mels)
            throw DispatchChecks.OutOfRange(KernelName, $"dft_length {p.DftLength} and num_mel_bins {p.Mels} give a [{p.Bins},{p.Mels}] matrix at run time, but the result was compiled for [{bins},{mels}]");
        DispatchChecks.Fits(d, 5, DispatchChecks.Product([bins, mels], KernelName, "matrix size"), _dtype.Size(), KernelName, "the matrix");
        // Every edge must lie inside the spectrum (each is checked: the filters index by them).
        for (long i = 0; i < p.Mels + 2; i++)
        {
            long edge = Edge(p, i);
            if (edge < 0 || edge >= p.Bins)
                throw DispatchChecks.OutOfRange(KernelName, $"edge {i} falls on bin {edge}, outside the spectrum of dft_length {p.DftLength} at sample_rate {p.SampleRate} (upper_edge_hertz {p.Upper} is too high)");
        }
    }

    /// <summary>Edge i as a spectrum bin: mel point i, back in hertz, snapped down.</summary>
    private static long Edge(Parameters p, long i)
    {
        double lowMel = HertzToMel(p.Lower), step = (HertzToMel(p.Upper) - lowMel) / (p.Mels + 2);
        return (long)Math.Floor((p.DftLength + 1) * MelToHertz(lowMel + i * step) / p.SampleRate);
    }

    private static double HertzToMel(double hz) => 2595 * Math.Log10(1 + hz / 700);
    private static double MelToHertz(double mel) => 700 * (Math.Pow(10, mel / 2595) - 1);

    // A matrix of filters: one workgroup.
    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) => (1, 1, 1);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        var p = Read(d);
        long mels = p.Mels;
        byte* y = d.Binding(5).Data;
        int size = _dtype.Size();
        for (long e = 0; e < p.Bins * mels; e++) ElementRows.StoreOne(0.0, _dtype, y + e * size);
        for (long m = 0; m < mels; m++)
        {
            // Validate checked every edge lies in [0, bins), so each filter stays inside the matrix.
            long left = Edge(p, m), centre = Edge(p, m + 1), right = Edge(p, m + 2);
            if (centre == left) ElementRows.StoreOne(1.0, _dtype, y + (centre * mels + m) * size);
            else for (long j = left; j <= centre; j++) ElementRows.StoreOne((double)(j - left) / (centre - left), _dtype, y + (j * mels + m) * size);
            for (long j = centre; j < right; j++) ElementRows.StoreOne((double)(right - j) / (right - centre), _dtype, y + (j * mels + m) * size);
        }
    }
}
