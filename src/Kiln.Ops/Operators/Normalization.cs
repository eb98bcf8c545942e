using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Normalizations by statistics: BatchNormalization (inference and training mode),
/// InstanceNormalization, LayerNormalization, GroupNormalization (opset 21: per-channel scale and
/// bias; opset 18 is upgraded on import) and RMSNormalization. Computed in double, which is at
/// least as precise as any stash_type.
/// </summary>
[OpFamily]
public static class Normalization
{
    public static void Register(OpRegistry r)
    {
        r.Add(new BatchNormalizationDefinition());
        r.Add(new InstanceNormalizationDefinition());
        r.Add(new LayerNormalizationDefinition());
        r.Add(new GroupNormalizationDefinition());
        r.Add(new RmsNormalizationDefinition());
    }

    /// <summary>Input 0 is a float tensor of rank at least <paramref name="minRank"/>; result 0 has its type.</summary>
    private static void InferSameAsFloatInput(InferenceContext ctx, int minRank)
    {
        Infer.ElementTypeIn(ctx, 0, t => t.IsFloat(), "a float type");
        if (ctx.InputShape(0) is { IsRanked: true } s && s.Rank < minRank)
            throw ctx.Error($"input must have rank at least {minRank}, got {s}");
        Infer.SameAsInput(ctx);
    }

    private static TensorData FloatInput(EvaluationContext ctx, int minRank)
    {
        var x = ctx.Tensor(0);
        if (!x.ElementType.IsFloat()) throw ctx.Error($"needs a float tensor, got {x.ElementType.OnnxName()}");
        if (x.Rank < minRank) throw ctx.Error($"input must have rank at least {minRank}, got shape {TensorData.FormatShape(x.Shape)}");
        return x;
    }

    /// <summary>
    /// BatchNormalization(X, scale, B, input_mean, input_var): per channel (axis 1),
    /// Y = (X − mean)/sqrt(var + epsilon)·scale + B. With training_mode the batch's own statistics
    /// are used and the running ones are updated: running = input·momentum + batch·(1 − momentum).
    /// </summary>
    private sealed class BatchNormalizationDefinition : OpDefinition
    {
        public override string OpType => "BatchNormalization";
        public override int MinInputs => 5;
        public override int MaxOutputs => 3;

        public override void InferTypes(InferenceContext ctx)
        {
            InferSameAsFloatInput(ctx, 2);
            bool training = ctx.Op.GetInt("training_mode", 0) != 0;
            for (int i = 1; i <= 2; i++)
            {
                if (!ctx.HasOutput(i)) continue;
                if (!training) throw ctx.Error("the running mean and variance outputs need training_mode=1");
                ctx.SetOutput(i, ctx.InputType(i + 2));
            }
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = FloatInput(ctx, 2);
            long channels = x.Shape[1];
            double[] Parameter(int i, string name) => NormalizationMath.ToDoubles(NormalizationMath.PerChannel(ctx.Tensor(i), channels, x.Rank, name, ctx.Error));
            var (scale, bias, mean, variance) = (Parameter(1, "scale"), Parameter(2, "B"), Parameter(3, "input_mean"), Parameter(4, "input_var"));
            double epsilon = ctx.Op.GetFloat("epsilon", 1e-5f);
            var xs = NormalizationMath.ToDoubles(x);

            if (ctx.Op.GetInt("training_mode", 0) != 0)
            {
                var perChannel = ReductionLayout.Create(x.Shape, Enumerable.Range(0, x.Rank).Where(d => d != 1).ToArray());
                var (batchMean, batchVariance) = NormalizationMath.Moments(xs, perChannel);
                double momentum = ctx.Op.GetFloat("momentum", 0.9f);
                double[] Running(double[] input, double[] batch) => input.Select((v, c) => v * momentum + batch[c] * (1 - momentum)).ToArray();
                if (ctx.HasOutput(1)) ctx.SetOutput(1, NormalizationMath.FromDoubles(Running(mean, batchMean), [channels], ctx.Tensor(3).ElementType));
                if (ctx.HasOutput(2)) ctx.SetOutput(2, NormalizationMath.FromDoubles(Running(variance, batchVariance), [channels], ctx.Tensor(4).ElementType));
                (mean, variance) = (batchMean, batchVariance);
            }

            var invStdDev = NormalizationMath.InverseStdDev(variance, epsilon);
            long inner = TensorData.CheckedCount(x.Shape.AsSpan(2));
            for (long i = 0; i < xs.Length; i++)
            {
                long c = i / inner % channels;
                xs[i] = (xs[i] - mean[c]) * invStdDev[c] * scale[c] + bias[c];
            }
            ctx.SetOutput(0, NormalizationMath.FromDoubles(xs, x.Shape, x.ElementType));
        }
    }

    /// <summary>InstanceNormalization(X, scale, B): each (sample, channel) normalized over its spatial axes.</summary>
    private sealed class InstanceNormalizationDefinition : OpDefinition
    {
        public override string OpType => "InstanceNormalization";
        public override int MinInputs => 3;

        public override void InferTypes(InferenceContext ctx) => InferSameAsFloatInput(ctx, 2);

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = FloatInput(ctx, 2);
            var layout = ReductionLayout.Trailing(x.Shape, 2);
            var scale = NormalizationMath.PerChannel(ctx.Tensor(1), x.Shape[1], x.Rank, "scale", ctx.Error);
            var bias = NormalizationMath.PerChannel(ctx.Tensor(2), x.Shape[1], x.Rank, "B", ctx.Error);
            ctx.SetOutput(0, NormalizeGroups(ctx, x, layout, scale, bias, center: true).Y);
        }
    }

    /// <summary>
    /// LayerNormalization(X, Scale, B?): normalized over the axes from 'axis' (default -1) on;
    /// optional results Mean and InvStdDev (shape X.shape[:axis] + [1, ...], type stash_type).
    /// </summary>
    private sealed class LayerNormalizationDefinition : OpDefinition
    {
        public override string OpType => "LayerNormalization";
        public override int MinInputs => 2;
        public override int MaxInputs => 3;
        public override int MaxOutputs => 3;

        public override void InferTypes(InferenceContext ctx)
        {
            InferSameAsFloatInput(ctx, 1);
            var stash = StashType(ctx.Op);
            var shape = ctx.InputShape(0);
            var statistics = Shape.Unranked;
            if (shape.IsRanked)
            {
                int axis = Axes.Normalize(ctx.Op.GetInt("axis", -1), shape.Rank, ctx.Op);
                statistics = new Shape(shape.Select((d, i) => i < axis ? d : 1));
            }
            for (int i = 1; i <= 2; i++)
                if (ctx.HasOutput(i)) ctx.SetOutput(i, stash, statistics);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = FloatInput(ctx, 1);
            int axis = Axes.Normalize(ctx.Op.GetInt("axis", -1), x.Rank, ctx.Op);
            var layout = ReductionLayout.Trailing(x.Shape, axis);
            var (y, mean, invStdDev) = NormalizeGroups(ctx, x, layout, ctx.Tensor(1), ctx.OptionalTensor(2), center: true);
            ctx.SetOutput(0, y);
            var stash = StashType(ctx.Op);
            if (ctx.HasOutput(1)) ctx.SetOutput(1, NormalizationMath.FromDoubles(mean, layout.KeptShape, stash));
            if (ctx.HasOutput(2)) ctx.SetOutput(2, NormalizationMath.FromDoubles(invStdDev, layout.KeptShape, stash));
        }
    }

    /// <summary>GroupNormalization(X, scale, bias) of opset 21: channels split into num_groups groups, normalized per (sample, group); scale and bias per channel.</summary>
    private sealed class GroupNormalizationDefinition : OpDefinition
    {
        public override string OpType => "GroupNormalization";
        public override int MinInputs => 3;

        public override void InferTypes(InferenceContext ctx)
        {
            InferSameAsFloatInput(ctx, 2);
            StashType(ctx.Op);
            if (ctx.Op.GetInt("num_groups") <= 0) throw ctx.Error("num_groups must be positive");
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = FloatInput(ctx, 2);
            long groups = ctx.Op.GetInt("num_groups");
            long channels = x.Shape[1];
            if (groups <= 0 || channels % groups != 0)
                throw ctx.Error($"num_groups {groups} does not divide the {channels} channels");
            // Each group is contiguous: x viewed as [N, groups, channels/groups · spatial].
            long[] grouped = [x.Shape[0], groups, channels / groups * TensorData.CheckedCount(x.Shape.AsSpan(2))];
            var layout = ReductionLayout.Trailing(grouped, 2);
            var scale = NormalizationMath.PerChannel(ctx.Tensor(1), channels, x.Rank, "scale", ctx.Error);
            var bias = NormalizationMath.PerChannel(ctx.Tensor(2), channels, x.Rank, "bias", ctx.Error);
            ctx.SetOutput(0, NormalizeGroups(ctx, x, layout, scale, bias, center: true).Y);
        }
    }

    /// <summary>RMSNormalization(X, scale): X / sqrt(mean(X²) + epsilon) · scale over the axes from 'axis' (default -1) on.</summary>
    private sealed class RmsNormalizationDefinition : OpDefinition
    {
        public override string OpType => "RMSNormalization";
        public override int MinInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            InferSameAsFloatInput(ctx, 1);
            StashType(ctx.Op);
            if (ctx.InputShape(0) is { IsRanked: true } shape) Axes.Normalize(ctx.Op.GetInt("axis", -1), shape.Rank, ctx.Op);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = FloatInput(ctx, 1);
            int axis = Axes.Normalize(ctx.Op.GetInt("axis", -1), x.Rank, ctx.Op);
            var layout = ReductionLayout.Trailing(x.Shape, axis);
            ctx.SetOutput(0, NormalizeGroups(ctx, x, layout, ctx.Tensor(1), null, center: false).Y);
        }
    }

    /// <summary>Normalizes each group of x's layout, then applies scale and bias broadcast to x's shape.</summary>
    private static (TensorData Y, double[] Mean, double[] InvStdDev) NormalizeGroups(EvaluationContext ctx, TensorData x,
        ReductionLayout layout, TensorData? scale, TensorData? bias, bool center)
    {
        var xs = NormalizationMath.ToDoubles(x);
        var (mean, variance) = NormalizationMath.Moments(xs, layout, center);
        var invStdDev = NormalizationMath.InverseStdDev(variance, ctx.Op.GetFloat("epsilon", 1e-5f));
        NormalizationMath.Normalize(xs, layout, mean, invStdDev);
        NormalizationMath.ScaleAndShift(xs, x.Shape, scale, bias, ctx.Error);
        return (NormalizationMath.FromDoubles(xs, x.Shape, x.ElementType), mean, invStdDev);
    }

    /// <summary>The stash_type attribute (default float32): the type statistics are computed and returned in.</summary>
    private static ElementType StashType(Operation op)
    {
        long code = op.GetInt("stash_type", (long)ElementType.Float32);
        if (!ElementTypes.IsDefined((int)code) || !((ElementType)code).IsFloat())
            throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: stash_type {code} is not a float type");
        return (ElementType)code;
    }
}
