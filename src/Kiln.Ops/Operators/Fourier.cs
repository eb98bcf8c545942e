using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// The Fourier transforms: DFT (opset 20; the importer moves opset 17's axis attribute to the
/// axis input) and STFT (opset 17). Signals carry a trailing dimension of 1 (real) or 2
/// (complex as re, im); spectra are complex. Computed in double (see <see cref="FastFourierTransform"/>).
/// </summary>
[OpFamily]
public static class FourierOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(new DftDefinition());
        r.Add(new StftDefinition());
    }

    /// <summary>
    /// DFT(input, dft_length?, axis?): the transform along one signal axis (default -2; the last
    /// axis holds re/im and cannot be transformed). The signal is cut or zero-padded to
    /// dft_length. onesided keeps the first n/2+1 frequencies of a forward transform; with
    /// inverse it reads such a half spectrum (n defaults to 2(m-1)) and returns the real signal.
    /// </summary>
    private sealed class DftDefinition : OpDefinition
    {
        public override string OpType => "DFT";
        public override int MaxInputs => 3;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, FloatBuffers.IsComputeType, "float, double, float16 or bfloat16");
            foreach (int i in new[] { 1, 2 })
                if (ctx.HasInput(i)) Infer.ElementTypeIn(ctx, i, t => t is ElementType.Int32 or ElementType.Int64, "int32 or int64");
            var type = ctx.InputElementType(0);
            var x = ctx.InputShape(0);
            if (!x.IsRanked) { ctx.SetOutput(0, type, Shape.Unranked); return; }
            CheckSignal(x, ctx.Error);
            var (inverse, onesided) = Flags(ctx.Op);
            Dim last = inverse && onesided ? 1 : 2;
            Dim axisValue = ctx.HasInput(2) ? SignalScalars.Infer(ctx, 2) : -2;
            if (!axisValue.TryGetValue(out long rawAxis))
            {
                // Which axis changes size is not known: every size but re/im is.
                ctx.SetOutput(0, type, new Shape(Enumerable.Range(0, x.Rank).Select(i => i == x.Rank - 1 ? last : Dim.Unknown())));
                return;
            }
            int axis = SignalAxis(rawAxis, x.Rank, ctx.Error);
            Dim length = ctx.HasInput(1) ? SignalScalars.Infer(ctx, 1) : DefaultLength(x[axis], inverse, onesided);
            if (length.IsKnown && length.Value < 1) throw ctx.Error($"dft_length must be positive, got {length}");
            ctx.SetOutput(0, type, x.With(axis, !inverse && onesided ? length / 2 + 1 : length).With(x.Rank - 1, last));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            if (!FloatBuffers.IsComputeType(x.ElementType)) throw ctx.Error($"input must be a float tensor, got {x.ElementType.OnnxName()}");
            CheckSignal(Shape.Of(x.Shape), ctx.Error);
            var (inverse, onesided) = Flags(ctx.Op);
            int axis = SignalAxis(ctx.HasInput(2) ? SignalScalars.Read(ctx, 2, "axis") : -2, x.Rank, ctx.Error);
            long inputLength = x.Shape[axis];
            long n = ctx.HasInput(1) ? SignalScalars.Read(ctx, 1, "dft_length") : DefaultLength(inputLength, inverse, onesided).Value;
            if (n < 1) throw ctx.Error($"dft_length must be positive, got {n}");
            if (n > int.MaxValue / 4) throw ctx.Error($"dft_length {n} is too large");
            bool realOutput = inverse && onesided;
            long outputLength = !inverse && onesided ? n / 2 + 1 : n;

            // The signal as [outer, length, inner, channels]: lines along 'axis' for each (outer, inner).
            long outer = 1, inner = 1, channels = x.Shape[^1], outChannels = realOutput ? 1 : 2;
            for (int i = 0; i < axis; i++) outer *= x.Shape[i];
            for (int i = axis + 1; i < x.Rank - 1; i++) inner *= x.Shape[i];
            var shape = (long[])x.Shape.Clone();
            shape[axis] = outputLength;
            shape[^1] = outChannels;

            var input = FloatBuffers.Read(x);
            var output = new double[TensorData.CheckedCount(shape)];
            var transform = new FastFourierTransform(n, inverse);
            var (re, im) = (new double[n], new double[n]);
            var (outRe, outIm) = (new double[outputLength], new double[outputLength]);
            for (long o = 0; o < outer; o++)
            for (long i = 0; i < inner; i++)
            {
                Array.Clear(re);
                Array.Clear(im);
                for (long t = 0; t < Math.Min(inputLength, realOutput ? n / 2 + 1 : n); t++)
                {
                    long at = ((o * inputLength + t) * inner + i) * channels;
                    re[t] = input[at];
                    im[t] = channels == 2 ? input[at + 1] : 0;
                }
                if (realOutput) CompleteHermitian(re, im);
                transform.Run(re, im, outRe, outIm);
                for (long k = 0; k < outputLength; k++)
                {
                    long at = ((o * outputLength + k) * inner + i) * outChannels;
                    output[at] = outRe[k];
                    if (!realOutput) output[at + 1] = outIm[k];
                }
            }
            ctx.SetOutput(0, FloatBuffers.Write(x.ElementType, shape, output));
        }

        private static (bool Inverse, bool Onesided) Flags(Operation op) => (op.GetInt("inverse", 0) != 0, op.GetInt("onesided", 0) != 0);

        /// <summary>The transform length without dft_length: the signal's, or 2(m-1) for a half spectrum of m frequencies.</summary>
        private static Dim DefaultLength(Dim inputLength, bool inverse, bool onesided) =>
            inverse && onesided ? 2 * (inputLength - 1) : inputLength;

        /// <summary>Fills frequencies n/2+1 .. n-1 as conjugates of the mirrored ones: the spectrum of a real signal.</summary>
        private static void CompleteHermitian(double[] re, double[] im)
        {
            int n = re.Length;
            for (int k = n / 2 + 1; k < n; k++)
            {
                re[k] = re[n - k];
                im[k] = -im[n - k];
            }
        }

        private static void CheckSignal(Shape x, Func<string, KilnException> error)
        {
            if (x.Rank < 2) throw error($"input must have a signal axis and a trailing re/im axis, got {x}");
            if (x[x.Rank - 1].IsKnown && x[x.Rank - 1].Value is not (1 or 2))
                throw error($"the last dimension must be 1 (real) or 2 (complex), got {x}");
        }

        /// <summary>The transformed axis: any but the trailing re/im axis, negative counting from the end.</summary>
        private static int SignalAxis(long axis, int rank, Func<string, KilnException> error)
        {
            long normalized = axis < 0 ? axis + rank : axis;
            return normalized >= 0 && normalized <= rank - 2 ? (int)normalized
                : throw error($"axis {axis} must be in [{-rank}, -2] or [0, {rank - 2}]");
        }
    }

    /// <summary>
    /// STFT(signal [batch, length, 1|2], frame_step, window?, frame_length?): the DFT of each
    /// windowed frame; [batch, frames, frequencies, 2]. Frames start every frame_step samples
    /// and must fit in the signal; onesided (default) keeps frame_length/2+1 frequencies.
    /// </summary>
    private sealed class StftDefinition : OpDefinition
    {
        public override string OpType => "STFT";
        public override int MinInputs => 2;
        public override int MaxInputs => 4;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, FloatBuffers.IsComputeType, "float, double, float16 or bfloat16");
            var type = Infer.SameElementType(ctx, 0, 2);
            foreach (int i in new[] { 1, 3 })
                if (ctx.HasInput(i)) Infer.ElementTypeIn(ctx, i, t => t is ElementType.Int32 or ElementType.Int64, "int32 or int64");
            var signal = ctx.InputShape(0);
            if (!signal.IsRanked) { ctx.SetOutput(0, type, Shape.Unranked); return; }
            if (signal.Rank != 3) throw ctx.Error($"signal must be [batch, length, 1 or 2], got {signal}");
            Dim frameLength = ctx.HasInput(3) ? SignalScalars.Infer(ctx, 3)
                : ctx.HasInput(2) && ctx.InputShape(2) is { IsRanked: true, Rank: 1 } w ? w[0]
                : signal[1];
            Dim step = SignalScalars.Infer(ctx, 1);
            Dim frames = step.IsKnown && step.Value <= 0 ? throw ctx.Error($"frame_step must be positive, got {step}")
                : (signal[1] - frameLength) / step + 1;
            Dim frequencies = ctx.Op.GetInt("onesided", 1) != 0 ? frameLength / 2 + 1 : frameLength;
            ctx.SetOutput(0, type, Shape.Of(signal[0], frames, frequencies, 2));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var signal = ctx.Tensor(0);
            if (!FloatBuffers.IsComputeType(signal.ElementType) || signal.Rank != 3 || signal.Shape[2] is not (1 or 2))
                throw ctx.Error($"signal must be a float tensor [batch, length, 1 or 2], got {signal.Type}");
            long batch = signal.Shape[0], length = signal.Shape[1], channels = signal.Shape[2];
            long step = SignalScalars.Read(ctx, 1, "frame_step");
            var windowTensor = ctx.OptionalTensor(2);
            if (windowTensor is not null && (windowTensor.Rank != 1 || windowTensor.ElementType != signal.ElementType))
                throw ctx.Error($"window must be a vector of the signal's element type, got {windowTensor.Type}");
            long frameLength = ctx.HasInput(3) ? SignalScalars.Read(ctx, 3, "frame_length") : windowTensor?.Shape[0] ?? length;
            if (windowTensor is not null && windowTensor.Shape[0] != frameLength)
                throw ctx.Error($"the window has {windowTensor.Shape[0]} values, frame_length is {frameLength}");
            if (step <= 0 || frameLength < 1 || frameLength > length)
                throw ctx.Error($"frame_step ({step}) must be positive and frame_length ({frameLength}) in [1, {length}]");
            long frames = (length - frameLength) / step + 1;
            long frequencies = ctx.Op.GetInt("onesided", 1) != 0 ? frameLength / 2 + 1 : frameLength;

            var input = FloatBuffers.Read(signal);
            var window = windowTensor is null ? null : FloatBuffers.Read(windowTensor);
            var output = new double[TensorData.CheckedCount([batch, frames, frequencies, 2])];
            var transform = new FastFourierTransform(frameLength, inverse: false);
            var (re, im) = (new double[frameLength], new double[frameLength]);
            var (outRe, outIm) = (new double[frequencies], new double[frequencies]);
            for (long b = 0; b < batch; b++)
            for (long f = 0; f < frames; f++)
            {
                for (long t = 0; t < frameLength; t++)
                {
                    long at = (b * length + f * step + t) * channels;
                    double w = window?[t] ?? 1;
                    re[t] = w * input[at];
                    im[t] = channels == 2 ? w * input[at + 1] : 0;
                }
                transform.Run(re, im, outRe, outIm);
                for (long k = 0; k < frequencies; k++)
                {
                    long at = ((b * frames + f) * frequencies + k) * 2;
                    output[at] = outRe[k];
                    output[at + 1] = outIm[k];
                }
            }
            ctx.SetOutput(0, FloatBuffers.Write(signal.ElementType, [batch, frames, frequencies, 2], output));
        }
    }
}

/// <summary>The scalar integer inputs of the signal operators: lengths, steps, sizes, axes.</summary>
internal static class SignalScalars
{
    public static long Read(EvaluationContext ctx, int input, string name)
    {
        var t = ctx.Tensor(input);
        return t.ElementCount == 1 && t.Rank <= 1 && t.ElementType.IsInteger() ? t.GetInt64(0)
            : throw ctx.Error($"{name} must be an integer scalar, got {t.Type}");
    }

    /// <summary>The value as a dimension during inference: known, symbolic, or unknown until run time.</summary>
    public static Dim Infer(InferenceContext ctx, int input) => ctx.InputShapeValue(input) is [var d] ? d : Dim.Unknown();
}
