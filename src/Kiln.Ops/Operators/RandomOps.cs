using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Random generators: RandomUniform, RandomNormal (shape from the 'shape' attribute), their
/// *Like forms (shape, and by default element type, from the operand), and Bernoulli (1 with the
/// probability each operand element gives). Numbers come from the evaluator's per-node generator,
/// seeded by the 'seed' attribute; values are drawn in double and rounded to the element type.
/// None of them may be folded at compile time.
/// </summary>
[OpFamily]
public static class RandomOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(new RandomDefinition("RandomUniform", like: false, Uniform));
        r.Add(new RandomDefinition("RandomUniformLike", like: true, Uniform));
        r.Add(new RandomDefinition("RandomNormal", like: false, Normal));
        r.Add(new RandomDefinition("RandomNormalLike", like: true, Normal));
        r.Add(new BernoulliDefinition());
    }

    private static double Uniform(Operation op, Random random)
    {
        double low = op.GetFloat("low", 0), high = op.GetFloat("high", 1);
        return low + (high - low) * random.NextDouble();
    }

    /// <summary>Box–Muller: a standard normal sample from two uniform ones, scaled and shifted.</summary>
    private static double Normal(Operation op, Random random)
    {
        double u = 1 - random.NextDouble(), v = random.NextDouble(); // u in (0, 1], so the log is finite
        double standard = Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v);
        return op.GetFloat("mean", 0) + op.GetFloat("scale", 1) * standard;
    }

    private static bool IsRandomType(ElementType t) => t is ElementType.Float32 or ElementType.Float64 or ElementType.Float16 or ElementType.BFloat16;

    /// <summary>The result element type: the 'dtype' attribute, else the operand's (for the *Like forms and Bernoulli), else float.</summary>
    private static ElementType ResultType(Operation op, ElementType? operand, Func<ElementType, bool> allowed)
    {
        long code = op.GetInt("dtype", (long)(operand ?? ElementType.Float32));
        if (!ElementTypes.IsDefined((int)code) || !allowed((ElementType)code))
            throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: dtype {code} is not allowed here");
        return (ElementType)code;
    }

    private sealed class RandomDefinition(string opType, bool like, Func<Operation, Random, double> sample) : OpDefinition
    {
        public override string OpType => opType;
        public override int MinInputs => like ? 1 : 0;
        public override bool IsDeterministic => false;

        private static long[] StaticShape(Operation op)
        {
            var shape = op.GetInts("shape") ?? throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: needs the 'shape' attribute");
            TensorData.CheckedCount(shape);
            return shape;
        }

        public override void InferTypes(InferenceContext ctx)
        {
            var et = ResultType(ctx.Op, like ? ctx.InputElementType(0) : null, IsRandomType);
            ctx.SetOutput(0, et, like ? ctx.InputShape(0) : Shape.Of(StaticShape(ctx.Op)));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var shape = like ? ctx.Tensor(0).Shape : StaticShape(ctx.Op);
            var et = ResultType(ctx.Op, like ? ctx.Tensor(0).ElementType : null, IsRandomType);
            var values = new double[TensorData.CheckedCount(shape)];
            var random = ctx.Random;
            for (long i = 0; i < values.LongLength; i++) values[i] = sample(ctx.Op, random);
            ctx.SetOutput(0, Conversions.Convert(new TensorData(ElementType.Float64, shape, values), et));
        }
    }

    /// <summary>Bernoulli(p): 1 where a uniform draw falls below p, else 0, in dtype (default: p's type).</summary>
    private sealed class BernoulliDefinition : OpDefinition
    {
        public override string OpType => "Bernoulli";
        public override bool IsDeterministic => false;

        private static bool IsResultType(ElementType t) => t.IsNumeric() || t == ElementType.Bool;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, IsRandomType, "a float type");
            ctx.SetOutput(0, ResultType(ctx.Op, ctx.InputElementType(0), IsResultType), ctx.InputShape(0));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var p = ctx.Tensor(0);
            if (!IsRandomType(p.ElementType)) throw ctx.Error($"the probabilities must be a float tensor, got {p.Type}");
            var et = ResultType(ctx.Op, p.ElementType, IsResultType);
            var random = ctx.Random;
            var draws = new double[p.ElementCount];
            for (long i = 0; i < draws.LongLength; i++) draws[i] = random.NextDouble() < p.GetDouble(i) ? 1 : 0;
            ctx.SetOutput(0, Conversions.Convert(new TensorData(ElementType.Float64, p.Shape, draws), et));
        }
    }
}
