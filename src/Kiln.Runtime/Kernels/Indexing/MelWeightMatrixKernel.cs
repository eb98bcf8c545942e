using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Indexing;

/// <summary>
/// The portable "melweights" kernel: MelWeightMatrix, [bins, mels] triangular filters from a
/// onesided spectrum of dft_length/2 + 1 bins to mel bins. mels + 2 edges are spaced evenly on the
/// mel scale between the lower and upper edge frequencies (at (upper − lower) / (mels + 2), as the
/// spec's reference does) and snapped down to spectrum bins; filter m is 1 at edge m + 1, rises
/// from edge m and falls to edge m + 2. Computed in double, rounded once to the result's type.
/// Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 num_mel_bins dtype · u8 dft_length dtype · u8 sample_rate dtype (int32/int64)
/// · u8 lower_edge_hertz dtype · u8 upper_edge_hertz dtype (float) · u8 result dtype (numeric)
/// </code>
/// Bindings: the five scalar operands, result. Push constants: bins, mels (the sizes the result was
/// compiled for, which the operands must give). One workgroup. Immutable after load; thread-safe.
/// </summary>
public sealed unsafe class MelWeightMatrixKernel : Kernel
{
    public const string KernelName = "melweights";
    public const byte Version = 1;

    private readonly DType[] _operandTypes;
    private readonly DType _dtype;

    private MelWeightMatrixKernel(DType[] operandTypes, DType dtype) => (_operandTypes, _dtype) = (operandTypes, dtype);

    public static byte[] Encode(DType mels, DType dftLength, DType sampleRate, DType lower, DType upper, DType dtype) =>
        new DescriptorWriter().U8(Version).U8((byte)mels).U8((byte)dftLength).U8((byte)sampleRate)
            .U8((byte)lower).U8((byte)upper).U8((byte)dtype).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var types = new DType[5];
        for (int i = 0; i < 3; i++) types[i] = r.ReadDType(DTypeKind.Index, "integer operand");
        for (int i = 3; i < 5; i++) types[i] = r.ReadDType(DTypeKind.Float, "frequency");
        var dtype = r.ReadDType(DTypeKind.Numeric, "result");
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 6, constantCount, 2);
        return new MelWeightMatrixKernel(types, dtype);
    }

    public override string Name => KernelName;

    /// <summary>The operands, each checked to be one element.</summary>
    private (long Mels, long DftLength, long SampleRate, double Lower, double Upper) Operands(in DispatchState d)
    {
        var values = new double[5];
        long[] integers = new long[3];
        for (int b = 0; b < 5; b++)
        {
            ref readonly var binding = ref d.Binding(b);
            if (binding.Length != _operandTypes[b].Size())
                throw DispatchChecks.OutOfRange(KernelName, $"operand {b} must hold one {_operandTypes[b].Name()}, its binding has {binding.Length} bytes");
            if (b < 3) integers[b] = _operandTypes[b] == DType.Int64 ? *(long*)binding.Data : *(int*)binding.Data;
            else values[b] = ElementRows.LoadOne<double>(_operandTypes[b], binding.Data);
        }
        return (integers[0], integers[1], integers[2], values[3], values[4]);
    }

    private static double HertzToMel(double hz) => 2595 * Math.Log10(1 + hz / 700);
    private static double MelToHertz(double mel) => 700 * (Math.Pow(10, mel / 2595) - 1);

    /// <summary>The mels + 2 filter edges as spectrum bins, each checked to lie in the spectrum.</summary>
    private static long[] Edges(long mels, long dftLength, long sampleRate, double lower, double upper, long bins)
    {
        double lowMel = HertzToMel(lower), melStep = (HertzToMel(upper) - lowMel) / (mels + 2);
        var edges = new long[mels + 2];
        for (long i = 0; i < edges.Length; i++)
        {
            double edge = Math.Floor((dftLength + 1) * MelToHertz(lowMel + i * melStep) / sampleRate);
            if (!(edge >= 0 && edge < bins))
                throw DispatchChecks.OutOfRange(KernelName, $"upper_edge_hertz {upper} lies beyond the spectrum of dft_length {dftLength} at sample_rate {sampleRate}");
            edges[i] = (long)edge;
        }
        return edges;
    }

    public override void Validate(in DispatchState d)
    {
        long bins = d.Constant(0), mels = d.Constant(1);
        var (m, dftLength, sampleRate, lower, upper) = Operands(d);
        if (m < 1 || dftLength < 1 || sampleRate < 1 || !(lower >= 0 && lower < upper))
            throw DispatchChecks.OutOfRange(KernelName, $"needs positive num_mel_bins ({m}), dft_length ({dftLength}) and sample_rate ({sampleRate}), and 0 <= lower_edge_hertz ({lower}) < upper_edge_hertz ({upper})");
        if (m != mels || dftLength / 2 + 1 != bins)
            throw DispatchChecks.OutOfRange(KernelName, $"the operands give a [{dftLength / 2 + 1},{m}] matrix, the program was compiled for [{bins},{mels}]");
        if (mels > int.MaxValue / 16) throw DispatchChecks.OutOfRange(KernelName, $"{mels} mel bins are too many");
        Edges(mels, dftLength, sampleRate, lower, upper, bins);
        DispatchChecks.Fits(d, 5, DispatchChecks.Product([bins, mels], KernelName, "result size"), _dtype.Size(), KernelName, "the result");
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) => (1, 1, 1);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        long bins = d.Constant(0), mels = d.Constant(1);
        var (_, dftLength, sampleRate, lower, upper) = Operands(d);
        var edges = Edges(mels, dftLength, sampleRate, lower, upper, bins);
        var row = new double[mels];
        byte* result = d.Binding(5).Data;
        int size = _dtype.Size();
        for (long j = 0; j < bins; j++)
        {
            for (long m = 0; m < mels; m++)
            {
                long left = edges[m], centre = edges[m + 1], right = edges[m + 2];
                row[m] = j == centre ? 1
                    : j >= left && j < centre ? (double)(j - left) / (centre - left)
                    : j > centre && j < right ? (double)(right - j) / (right - centre)
                    : 0;
            }
            ElementRows.Store<double>(row, _dtype, result + j * mels * size);
        }
    }
}
