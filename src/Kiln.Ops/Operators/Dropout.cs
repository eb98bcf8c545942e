using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Dropout(x, ratio?, training_mode?): in inference (the default) a copy of x and an all-true
/// mask; in training mode each element is kept with probability 1 - ratio and scaled by
/// 1 / (1 - ratio), drawn from the evaluator's seeded generator.
/// </summary>
[OpFamily]
public static class DropoutOps
{
    public static void Register(OpRegistry r) => r.Add(new DropoutDefinition());

    private sealed class DropoutDefinition : OpDefinition
    {
        public override string OpType => "Dropout";
        public override int MaxInputs => 3;
        public override int MaxOutputs => 2;

        // Training mode draws a random mask, so a result must not be folded into a constant.
        public override bool IsDeterministic => false;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, t => t.IsFloat(), "a float type");
            if (ctx.HasInput(1)) Infer.ElementTypeIn(ctx, 1, t => t.IsFloat(), "a float type");
            if (ctx.HasInput(2)) Infer.ElementTypeIn(ctx, 2, t => t == ElementType.Bool, "bool");
            Infer.SameAsInput(ctx);
            if (ctx.OutputCount > 1) ctx.SetOutput(1, ElementType.Bool, ctx.InputShape(0));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            bool training = ctx.OptionalTensor(2) is { } mode && mode.GetDouble(0) != 0;
            double ratio = ctx.OptionalTensor(1) is { } r ? r.GetDouble(0) : 0.5;
            var mask = TensorData.Zeros(ElementType.Bool, x.Shape);
            var keep = mask.Data<bool>();
            if (!training || ratio == 0)
            {
                Array.Fill(keep, true);
                ctx.SetOutput(0, x);
                ctx.SetOutput(1, mask);
                return;
            }
            if (ratio < 0 || ratio >= 1) throw ctx.Error($"ratio {ratio} must lie in [0, 1)");
            var random = ctx.Random;
            var values = Conversions.Convert(x, ElementType.Float64).Data<double>();
            var scaled = new double[values.Length];
            double scale = 1 / (1 - ratio);
            for (int i = 0; i < values.Length; i++)
            {
                keep[i] = random.NextDouble() >= ratio;
                scaled[i] = keep[i] ? values[i] * scale : 0;
            }
            ctx.SetOutput(0, Conversions.Convert(TensorData.Create(ElementType.Float64, x.Shape, scaled), x.ElementType));
            ctx.SetOutput(1, mask);
        }
    }
}
