using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// CausalConvWithState (opset 27): a causal depthwise 1-D convolution that carries its left
/// context between calls. Each channel of input [batch, channels, length] is prefixed with its
/// past_state [batch, channels, k-1] (zeros when absent) and convolved with its own kernel of
/// weight [channels, 1, k], plus bias; an optional fused SiLU ("silu" or "swish") follows.
/// present_state is the last k-1 positions of the prefixed input. As in the spec's function
/// body, the convolution is rounded to the element type before the activation.
/// </summary>
[OpFamily]
public static class CausalConvWithStateOps
{
    public static void Register(OpRegistry r) => r.Add(new CausalConvWithStateDefinition());

    private const int Input = 0, Weight = 1, Bias = 2, PastState = 3;

    private sealed class CausalConvWithStateDefinition : OpDefinition
    {
        public override string OpType => "CausalConvWithState";
        public override int MinInputs => 2;
        public override int MaxInputs => 4;
        public override int MaxOutputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, Input, FloatBuffers.IsComputeType, "float, double, float16 or bfloat16");
            var type = Infer.SameElementType(ctx, Input, Weight, Bias, PastState);
            ReadActivation(ctx.Op, ctx.Error);
            Shape x = ctx.InputShape(Input), w = ctx.InputShape(Weight);
            if (!x.IsRanked || !w.IsRanked) throw new ShapeUnknownException();
            if (x.Rank != 3 || w.Rank != 3) throw ctx.Error($"input and weight must be rank 3, got {x} and {w}");
            Dim batch = x[0], channels = x[1], state = w[2] - 1;
            DimChecks.ExpectEqual(w[0], channels, "weight channels", ctx.Error);
            DimChecks.ExpectEqual(w[1], 1, "weight's second dimension", ctx.Error);
            if (ctx.HasInput(Bias) && ctx.InputShape(Bias) is { IsRanked: true } b)
            {
                if (b.Rank != 1) throw ctx.Error($"bias must be rank 1, got {b}");
                DimChecks.ExpectEqual(b[0], channels, "bias size", ctx.Error);
            }
            if (ctx.HasInput(PastState) && ctx.InputShape(PastState) is { IsRanked: true } p)
            {
                if (p.Rank != 3) throw ctx.Error($"past_state must be rank 3, got {p}");
                DimChecks.ExpectEqual(p[0], batch, "past_state batch", ctx.Error);
                DimChecks.ExpectEqual(p[1], channels, "past_state channels", ctx.Error);
                DimChecks.ExpectEqual(p[2], state, "past_state length", ctx.Error);
            }
            ctx.SetOutput(0, type, x);
            if (ctx.HasOutput(1)) ctx.SetOutput(1, type, Shape.Of(batch, channels, state));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            TensorData x = ctx.Tensor(Input), w = ctx.Tensor(Weight);
            TensorData? bias = ctx.OptionalTensor(Bias), past = ctx.OptionalTensor(PastState);
            var type = x.ElementType;
            if (!FloatBuffers.IsComputeType(type) || new[] { w, bias, past }.Any(t => t is not null && t.ElementType != type))
                throw ctx.Error("input, weight, bias and past_state must share one float element type");
            bool silu = ReadActivation(ctx.Op, ctx.Error);
            if (x.Rank != 3 || w.Rank != 3 || w.Shape[0] != x.Shape[1] || w.Shape[1] != 1 || w.Shape[2] < 1)
                throw ctx.Error($"input {TensorData.FormatShape(x.Shape)} needs a weight of shape [{(x.Rank == 3 ? x.Shape[1] : "C")},1,k], got {TensorData.FormatShape(w.Shape)}");
            long batch = x.Shape[0], channels = x.Shape[1], length = x.Shape[2], kernel = w.Shape[2], carry = kernel - 1;
            if (bias is not null && !bias.Shape.AsSpan().SequenceEqual([channels]))
                throw ctx.Error($"bias must have shape [{channels}], got {TensorData.FormatShape(bias.Shape)}");
            if (past is not null && !past.Shape.AsSpan().SequenceEqual([batch, channels, carry]))
                throw ctx.Error($"past_state must have shape [{batch},{channels},{carry}], got {TensorData.FormatShape(past.Shape)}");

            double[] input = FloatBuffers.Read(x), weights = FloatBuffers.Read(w);
            double[]? biases = bias is null ? null : FloatBuffers.Read(bias), state = past is null ? null : FloatBuffers.Read(past);
            var output = new double[input.Length];
            var present = new double[batch * channels * carry];
            var padded = new double[carry + length];
            for (long b = 0; b < batch; b++)
            for (long c = 0; c < channels; c++)
            {
                long row = b * channels + c;
                if (state is not null) Array.Copy(state, row * carry, padded, 0, carry);
                else Array.Clear(padded, 0, (int)carry);
                Array.Copy(input, row * length, padded, carry, length);
                var kernelWeights = weights.AsSpan((int)(c * kernel), (int)kernel);
                for (long t = 0; t < length; t++)
                {
                    double sum = biases?[c] ?? 0;
                    for (int k = 0; k < kernel; k++) sum += kernelWeights[k] * padded[t + k];
                    sum = FloatBuffers.RoundTo(sum, type);
                    output[row * length + t] = silu ? sum / (1 + Math.Exp(-sum)) : sum;
                }
                Array.Copy(padded, length, present, row * carry, carry);
            }
            ctx.SetOutput(0, FloatBuffers.Write(type, x.Shape, output));
            if (ctx.HasOutput(1)) ctx.SetOutput(1, FloatBuffers.Write(type, [batch, channels, carry], present));
        }

        /// <summary>True when a SiLU follows the convolution ("silu" and "swish" are the same function).</summary>
        private static bool ReadActivation(Operation op, Func<string, KilnException> error) => op.GetString("activation", "none") switch
        {
            "none" => false,
            "silu" or "swish" => true,
            var a => throw error($"activation must be \"none\", \"silu\" or \"swish\", got \"{a}\""),
        };
    }
}
