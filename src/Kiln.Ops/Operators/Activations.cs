using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Piecewise activations: Relu, LeakyRelu, PRelu, ThresholdedRelu, Elu, Selu, Celu, HardSigmoid,
/// HardSwish, Shrink and Clip. Attributes are float32 in ONNX and are applied in the tensor's type.
/// </summary>
[OpFamily]
public static class Activations
{
    public static void Register(OpRegistry r)
    {
        r.Add(new NumericUnaryDefinition<ReluOp>("Relu", ElementTypeSet.SignedNumeric));
        r.Add(new PReluDefinition());
        r.Add(FloatActivation("LeakyRelu", op => new LeakyRelu(op.GetFloat("alpha", 0.01f))));
        r.Add(FloatActivation("ThresholdedRelu", op => new ThresholdedRelu(op.GetFloat("alpha", 1f))));
        r.Add(FloatActivation("Elu", op => new Elu(op.GetFloat("alpha", 1f))));
        // Selu's defaults are the float32 roundings of the constants of the SELU paper.
        r.Add(FloatActivation("Selu", op => new Selu(op.GetFloat("alpha", 1.67326319217681884765625f), op.GetFloat("gamma", 1.05070102214813232421875f))));
        r.Add(FloatActivation("Celu", op => new Celu(op.GetFloat("alpha", 1f))));
        r.Add(FloatActivation("HardSigmoid", op => new HardSigmoid(op.GetFloat("alpha", 0.2f), op.GetFloat("beta", 0.5f))));
        r.Add(new FloatUnaryDefinition<HardSwishOp>("HardSwish"));
        r.Add(new UnaryDefinition("Shrink", ElementTypeSet.Numeric,
            (op, x) => ElementwiseFunctions.Apply(x, new Shrink(op.GetFloat("lambd", 0.5f), op.GetFloat("bias", 0f)))));
        r.Add(new ClipDefinition());
    }

    /// <summary>A float activation whose parameters come from the operation's attributes.</summary>
    private static UnaryDefinition FloatActivation<TF>(string opType, Func<Operation, TF> create) where TF : struct, IFloatFunction =>
        new(opType, ElementTypeSet.Float, (op, x) => ElementwiseFunctions.ApplyFloat(x, create(op)));

    /// <summary>max(x, 0); NaN stays NaN.</summary>
    public struct ReluOp : INumericUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, INumber<T> => x < T.Zero ? T.Zero : x; }

    /// <summary>x for x &gt;= 0, slope * x below.</summary>
    public struct PReluOp : INumericBinaryOperator { public static T Invoke<T>(T x, T slope) where T : unmanaged, INumber<T> => x < T.Zero ? slope * x : x; }

    public readonly struct LeakyRelu(float alpha) : IFloatFunction
    {
        public T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => x < T.Zero ? T.CreateTruncating(alpha) * x : x;
    }

    public readonly struct ThresholdedRelu(float alpha) : IFloatFunction
    {
        public T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => x > T.CreateTruncating(alpha) ? x : T.Zero;
    }

    public readonly struct Elu(float alpha) : IFloatFunction
    {
        public T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => x < T.Zero ? T.CreateTruncating(alpha) * T.ExpM1(x) : x;
    }

    public readonly struct Selu(float alpha, float gamma) : IFloatFunction
    {
        public T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> =>
            T.CreateTruncating(gamma) * (x <= T.Zero ? T.CreateTruncating(alpha) * T.ExpM1(x) : x);
    }

    /// <summary>max(0, x) + min(0, alpha * (exp(x / alpha) - 1)).</summary>
    public readonly struct Celu(float alpha) : IFloatFunction
    {
        public T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T>
        {
            var a = T.CreateTruncating(alpha);
            return x > T.Zero ? x : T.Min(T.Zero, a * T.ExpM1(x / a));
        }
    }

    /// <summary>max(0, min(1, alpha * x + beta)).</summary>
    public readonly struct HardSigmoid(float alpha, float beta) : IFloatFunction
    {
        public T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> =>
            T.Clamp(T.CreateTruncating(alpha) * x + T.CreateTruncating(beta), T.Zero, T.One);
    }

    /// <summary>x * HardSigmoid(x) with alpha 1/6 and beta 1/2, in double so that float16 rounds once.</summary>
    public struct HardSwishOp : IFloatUnaryOperator
    {
        public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T>
        {
            double d = double.CreateTruncating(x);
            return T.CreateTruncating(d * Math.Clamp(d / 6 + 0.5, 0, 1));
        }
    }

    /// <summary>x + bias below -lambd, x - bias above lambd, 0 between; for any numeric type.</summary>
    public readonly struct Shrink(float lambd, float bias) : INumericFunction
    {
        public T Invoke<T>(T x) where T : unmanaged, INumber<T>
        {
            double d = double.CreateTruncating(x);
            return d < -lambd ? x + T.CreateTruncating(bias) : d > lambd ? x - T.CreateTruncating(bias) : T.Zero;
        }
    }

    /// <summary>PRelu(X, slope): slope broadcasts to X (one direction only); the result has X's shape.</summary>
    private sealed class PReluDefinition : OpDefinition
    {
        public override string OpType => "PRelu";
        public override int MinInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.SameElementType(ctx, 0, 1);
            ElementTypeSet.Numeric.Check(ctx, 0);
            var x = ctx.InputShape(0);
            var slope = ctx.InputShape(1);
            if (Broadcasting.Shape(ctx, x, slope) is { IsStatic: true } b && x.IsStatic && !b.Equals(x))
                throw ctx.Error($"slope {slope} does not broadcast to the input {x}");
            Infer.SameAsInput(ctx);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var result = Elementwise.Binary<PReluOp>(x, ctx.Tensor(1));
            if (!result.Shape.AsSpan().SequenceEqual(x.Shape))
                throw ctx.Error($"slope {TensorData.FormatShape(ctx.Tensor(1).Shape)} does not broadcast to the input {TensorData.FormatShape(x.Shape)}");
            ctx.SetOutput(0, result);
        }
    }

    /// <summary>Clip(x, min, max): min and max are optional scalars of x's type; min(max(x, min), max), so max wins when min &gt; max.</summary>
    private sealed class ClipDefinition : OpDefinition
    {
        public override string OpType => "Clip";
        public override int MaxInputs => 3;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.SameElementType(ctx, 0, 1, 2);
            ElementTypeSet.Numeric.Check(ctx, 0);
            for (int i = 1; i < 3; i++)
                if (ctx.HasInput(i) && ctx.InputShape(i) is { IsRanked: true } s && s.ElementCount.IsKnown && s.ElementCount.Value != 1)
                    throw ctx.Error($"input {i} must be a scalar, has shape {s}");
            Infer.SameAsInput(ctx);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            if (Bound(ctx, 1) is { } min) x = Elementwise.Binary<VariadicOps.MaxOp>(x, min);
            if (Bound(ctx, 2) is { } max) x = Elementwise.Binary<VariadicOps.MinOp>(x, max);
            ctx.SetOutput(0, x);
        }

        private static TensorData? Bound(EvaluationContext ctx, int i)
        {
            if (ctx.OptionalTensor(i) is not { } t) return null;
            if (t.ElementCount != 1) throw ctx.Error($"input {i} must be a scalar, has shape {TensorData.FormatShape(t.Shape)}");
            return t.Reshape([]);
        }
    }
}
