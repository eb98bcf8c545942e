using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss: input [N, C, d1, ...] of (log-)
/// probabilities or scores, integer targets [N, d1, ...], optional per-class weights [C],
/// reduction none / sum / mean (weighted mean), ignore_index. Computed in double.
/// </summary>
[OpFamily]
public static class Losses
{
    public static void Register(OpRegistry r)
    {
        r.Add(new LossDefinition("NegativeLogLikelihoodLoss", applySoftmax: false));
        r.Add(new LossDefinition("SoftmaxCrossEntropyLoss", applySoftmax: true));
    }

    /// <summary>
    /// The NLL loss of log-probabilities; SoftmaxCrossEntropyLoss first takes the LogSoftmax of its
    /// scores over the class axis (and may return it as a second result).
    /// </summary>
    private sealed class LossDefinition(string opType, bool applySoftmax) : OpDefinition
    {
        public override string OpType => opType;
        public override int MinInputs => 2;
        public override int MaxInputs => 3;
        public override int MaxOutputs => applySoftmax ? 2 : 1;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, t => t.IsFloat(), "a float type");
            Infer.ElementTypeIn(ctx, 1, t => t is ElementType.Int32 or ElementType.Int64, "int32 or int64");
            if (ctx.HasInput(2)) Infer.SameElementType(ctx, 0, 2);
            var et = ctx.InputElementType(0);
            var input = ctx.InputShape(0);
            if (input.IsRanked && input.Rank < 2) throw ctx.Error($"input must have shape [N, C, ...], got {input}");
            ctx.SetOutput(0, et, Reduction(ctx.Op) == "none" ? ctx.InputShape(1) : Shape.Of());
            if (ctx.HasOutput(1)) ctx.SetOutput(1, et, input);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var input = ctx.Tensor(0);
            if (!input.ElementType.IsFloat()) throw ctx.Error($"input must be a float tensor, got {input.ElementType.OnnxName()}");
            if (input.Rank < 2) throw ctx.Error($"input must have shape [N, C, ...], got {TensorData.FormatShape(input.Shape)}");
            var target = ctx.Tensor(1);
            long[] expectedTarget = [input.Shape[0], .. input.Shape.AsSpan(2)];
            if (!target.ElementType.IsInteger() || !target.Shape.AsSpan().SequenceEqual(expectedTarget))
                throw ctx.Error($"target must be integers of shape {TensorData.FormatShape(expectedTarget)}, got {target.ElementType.OnnxName()}{TensorData.FormatShape(target.Shape)}");
            long classes = input.Shape[1];
            var weight = ctx.OptionalTensor(2);
            if (weight is not null && (weight.Rank != 1 || weight.Shape[0] != classes))
                throw ctx.Error($"weight must have shape [{classes}], got {TensorData.FormatShape(weight.Shape)}");

            var logProb = applySoftmax ? AxisLanes.Map(input, 1, default(SoftmaxOps.LogSoftmaxLane)) : input;
            var loss = NegativeLogLikelihood(ctx, NormalizationMath.ToDoubles(logProb), input.Shape, target.ToInt64Array(),
                weight is null ? null : NormalizationMath.ToDoubles(weight));
            var shape = Reduction(ctx.Op) == "none" ? target.Shape : [];
            ctx.SetOutput(0, NormalizationMath.FromDoubles(loss, shape, input.ElementType));
            if (ctx.HasOutput(1)) ctx.SetOutput(1, logProb);
        }
    }

    private static string Reduction(Operation op)
    {
        string reduction = op.GetString("reduction", "mean");
        return reduction is "none" or "sum" or "mean" ? reduction
            : throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: reduction must be none, sum or mean, got '{reduction}'");
    }

    /// <summary>
    /// loss[n, d] = −logProb[n, target[n, d], d] · weight[target[n, d]] (0 where the target is
    /// ignore_index), then reduced: 'mean' divides the sum by the total weight of the counted targets.
    /// </summary>
    private static double[] NegativeLogLikelihood(EvaluationContext ctx, double[] logProb, long[] shape, long[] target, double[]? weight)
    {
        long classes = shape[1];
        long inner = TensorData.CheckedCount(shape.AsSpan(2));
        long? ignoreIndex = ctx.Op.HasAttribute("ignore_index") ? ctx.Op.GetInt("ignore_index") : null;
        var loss = new double[target.Length];
        double totalWeight = 0;
        for (long i = 0; i < target.Length; i++)
        {
            long t = target[i];
            if (t == ignoreIndex) continue;
            if (t < 0 || t >= classes) throw ctx.Error($"target {t} at position {i} is not a class index in [0, {classes})");
            double w = weight?[t] ?? 1;
            long n = i / inner, d = i % inner;
            loss[i] = -logProb[(n * classes + t) * inner + d] * w;
            totalWeight += w;
        }
        return Reduction(ctx.Op) switch
        {
            "none" => loss,
            "sum" => [loss.Sum()],
            _ => [loss.Sum() / totalWeight],
        };
    }
}
