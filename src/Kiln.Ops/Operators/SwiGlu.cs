using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// SwiGLU (opset 28): Y = Swish_alpha(A) * B with Swish_alpha(a) = a * sigmoid(alpha * a), on
/// two float tensors of identical shape (no broadcasting). As in the spec's function body, the
/// gate is rounded to the element type before the product.
/// </summary>
[OpFamily]
public static class SwiGluOps
{
    public static void Register(OpRegistry r) => r.Add(new SwiGluDefinition());

    private sealed class SwiGluDefinition : OpDefinition
    {
        public override string OpType => "SwiGLU";
        public override int MinInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, FloatBuffers.IsComputeType, "float, double, float16 or bfloat16");
            Infer.SameElementType(ctx, 0, 1);
            Shape a = ctx.InputShape(0), b = ctx.InputShape(1);
            if (a.IsRanked && b.IsRanked && (a.Rank != b.Rank || Enumerable.Range(0, a.Rank).Any(i => a[i].IsKnown && b[i].IsKnown && a[i] != b[i])))
                throw ctx.Error($"A {a} and B {b} must have the same shape");
            ctx.SetOutput(0, ctx.InputElementType(0), a.IsRanked ? a : b);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            TensorData a = ctx.Tensor(0), b = ctx.Tensor(1);
            if (!FloatBuffers.IsComputeType(a.ElementType) || a.ElementType != b.ElementType)
                throw ctx.Error($"A and B must have the same float element type, got {a.ElementType.OnnxName()} and {b.ElementType.OnnxName()}");
            if (!a.Shape.AsSpan().SequenceEqual(b.Shape))
                throw ctx.Error($"A {TensorData.FormatShape(a.Shape)} and B {TensorData.FormatShape(b.Shape)} must have the same shape");
            double alpha = ctx.Op.GetFloat("alpha", 1);
            double[] gate = FloatBuffers.Read(a), value = FloatBuffers.Read(b);
            var y = new double[gate.Length];
            for (int i = 0; i < y.Length; i++)
            {
                double x = gate[i];
                double swish = FloatBuffers.RoundTo(x / (1 + Math.Exp(-alpha * x)), a.ElementType);
                y[i] = swish * value[i];
            }
            ctx.SetOutput(0, FloatBuffers.Write(a.ElementType, a.Shape, y));
        }
    }
}
