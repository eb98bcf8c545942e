using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Generators of signal-processing constants (opset 17): the Hann, Hamming and Blackman windows
/// and MelWeightMatrix. Their results depend only on scalar inputs; the element type comes from
/// output_datatype (float32 by default).
/// </summary>
[OpFamily]
public static class SignalWindowOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(new CosineWindowDefinition("HannWindow", 0.5, 0.5, 0));
        r.Add(new CosineWindowDefinition("HammingWindow", 25.0 / 46, 21.0 / 46, 0));
        r.Add(new CosineWindowDefinition("BlackmanWindow", 0.42, 0.5, 0.08));
        r.Add(new MelWeightMatrixDefinition());
    }

    private static ElementType OutputType(Operation op, Func<string, KilnException> error)
    {
        var type = FloatBuffers.TypeAttribute(op, "output_datatype") ?? ElementType.Float32;
        return type.IsNumeric() ? type : throw error($"output_datatype must be a numeric type, got {type.OnnxName()}");
    }

    private static double FloatScalar(EvaluationContext ctx, int input, string name)
    {
        var t = ctx.Tensor(input);
        return t.ElementCount == 1 && t.Rank <= 1 && t.ElementType.IsFloat() ? t.GetDouble(0)
            : throw ctx.Error($"{name} must be a float scalar, got {t.Type}");
    }

    /// <summary>
    /// w[n] = a0 − a1·cos(2πn/N) + a2·cos(4πn/N) for n in [0, size), with N = size when periodic
    /// (the default, for spectral analysis) and size − 1 when symmetric (for filter design).
    /// </summary>
    private sealed class CosineWindowDefinition(string opType, double a0, double a1, double a2) : OpDefinition
    {
        public override string OpType => opType;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, t => t is ElementType.Int32 or ElementType.Int64, "int32 or int64");
            var size = SignalScalars.Infer(ctx, 0);
            if (size.IsKnown && size.Value < 0) throw ctx.Error($"size must not be negative, got {size}");
            ctx.SetOutput(0, OutputType(ctx.Op, ctx.Error), Shape.Of(size));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            long size = SignalScalars.Read(ctx, 0, "size");
            if (size < 0 || size > TensorData.MaxElements) throw ctx.Error($"size {size} is out of range");
            long period = ctx.Op.GetInt("periodic", 1) != 0 ? size : size - 1;
            var w = new double[size];
            for (long n = 0; n < size; n++)
            {
                double angle = 2 * Math.PI * n / period;
                w[n] = a0 - a1 * Math.Cos(angle) + a2 * Math.Cos(2 * angle);
            }
            // A one-point symmetric window has no period (the formula divides by zero): it is the peak, 1.
            if (period == 0 && size == 1) w[0] = 1;
            ctx.SetOutput(0, FloatBuffers.Write(OutputType(ctx.Op, ctx.Error), [size], w));
        }
    }

    /// <summary>
    /// MelWeightMatrix(num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz):
    /// [dft_length/2 + 1, num_mel_bins] triangular filters that map a onesided spectrum to mel
    /// bins. As in the spec's reference, num_mel_bins + 2 edges are spaced on the mel scale at
    /// (upper − lower) / (num_mel_bins + 2) from the lower edge and snapped down to spectrum
    /// bins; each filter rises from its left edge to 1 at its centre and falls to its right edge.
    /// </summary>
    private sealed class MelWeightMatrixDefinition : OpDefinition
    {
        public override string OpType => "MelWeightMatrix";
        public override int MinInputs => 5;

        public override void InferTypes(InferenceContext ctx)
        {
            for (int i = 0; i < 3; i++) Infer.ElementTypeIn(ctx, i, t => t is ElementType.Int32 or ElementType.Int64, "int32 or int64");
            for (int i = 3; i < 5; i++) Infer.ElementTypeIn(ctx, i, t => t.IsFloat(), "a float type");
            Dim mels = SignalScalars.Infer(ctx, 0), dftLength = SignalScalars.Infer(ctx, 1);
            ctx.SetOutput(0, OutputType(ctx.Op, ctx.Error), Shape.Of(dftLength / 2 + 1, mels));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            long mels = SignalScalars.Read(ctx, 0, "num_mel_bins"), dftLength = SignalScalars.Read(ctx, 1, "dft_length");
            long sampleRate = SignalScalars.Read(ctx, 2, "sample_rate");
            double lower = FloatScalar(ctx, 3, "lower_edge_hertz"), upper = FloatScalar(ctx, 4, "upper_edge_hertz");
            if (mels < 1 || dftLength < 1 || sampleRate < 1 || !(lower >= 0 && lower < upper))
                throw ctx.Error($"needs positive num_mel_bins ({mels}), dft_length ({dftLength}) and sample_rate ({sampleRate}), and 0 <= lower_edge_hertz ({lower}) < upper_edge_hertz ({upper})");
            long bins = dftLength / 2 + 1;
            if (checked(bins * mels) > TensorData.MaxElements) throw ctx.Error($"a [{bins},{mels}] matrix is too large");

            double lowMel = HertzToMel(lower), melStep = (HertzToMel(upper) - lowMel) / (mels + 2);
            var edges = new long[mels + 2];
            for (long i = 0; i < edges.Length; i++)
            {
                edges[i] = (long)Math.Floor((dftLength + 1) * MelToHertz(lowMel + i * melStep) / sampleRate);
                if (edges[i] >= bins) throw ctx.Error($"upper_edge_hertz {upper} lies beyond the spectrum of dft_length {dftLength} at sample_rate {sampleRate}");
            }

            var weights = new double[bins * mels];
            for (long m = 0; m < mels; m++)
            {
                long left = edges[m], centre = edges[m + 1], right = edges[m + 2];
                if (centre == left) weights[centre * mels + m] = 1;
                else for (long j = left; j <= centre; j++) weights[j * mels + m] = (double)(j - left) / (centre - left);
                for (long j = centre; j < right; j++) weights[j * mels + m] = (double)(right - j) / (right - centre);
            }
            ctx.SetOutput(0, FloatBuffers.Write(OutputType(ctx.Op, ctx.Error), [bins, mels], weights));
        }

        private static double HertzToMel(double hz) => 2595 * Math.Log10(1 + hz / 700);
        private static double MelToHertz(double mel) => 700 * (Math.Pow(10, mel / 2595) - 1);
    }
}
