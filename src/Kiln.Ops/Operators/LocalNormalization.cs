using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Normalizations that rescale by a norm or a neighbourhood: LpNormalization (along one axis),
/// MeanVarianceNormalization (over given axes) and LRN (across nearby channels).
/// </summary>
[OpFamily]
public static class LocalNormalization
{
    public static void Register(OpRegistry r)
    {
        r.Add(new FloatDefinition("LpNormalization", LpNormalize));
        r.Add(new FloatDefinition("MeanVarianceNormalization", MeanVarianceNormalize));
        r.Add(new FloatDefinition("LRN", LocalResponseNormalize));
    }

    /// <summary>A one-input float operator whose result has the input's type.</summary>
    private sealed class FloatDefinition(string opType, Func<EvaluationContext, TensorData, TensorData> compute) : OpDefinition
    {
        public override string OpType => opType;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, t => t.IsFloat(), "a float type");
            Infer.SameAsInput(ctx);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            if (!x.ElementType.IsFloat()) throw ctx.Error($"needs a float tensor, got {x.ElementType.OnnxName()}");
            ctx.SetOutput(0, compute(ctx, x));
        }
    }

    /// <summary>x / ‖x‖ₚ along 'axis' (default -1), p = 1 or 2 (default 2); a zero norm gives 0.</summary>
    private static TensorData LpNormalize(EvaluationContext ctx, TensorData x)
    {
        long p = ctx.Op.GetInt("p", 2);
        if (p is not (1 or 2)) throw ctx.Error($"p must be 1 or 2, got {p}");
        int axis = Axes.Normalize(ctx.Op.GetInt("axis", -1), x.Rank, ctx.Op);
        return AxisLanes.Map(x, axis, new LpLane(p == 1));
    }

    private readonly struct LpLane(bool l1) : ILaneTransform
    {
        public void Apply<TAcc>(Span<TAcc> lane) where TAcc : unmanaged, INumber<TAcc>
        {
            double norm = 0;
            foreach (var v in lane)
            {
                double d = double.CreateTruncating(v);
                norm += l1 ? Math.Abs(d) : d * d;
            }
            if (!l1) norm = Math.Sqrt(norm);
            foreach (ref var v in lane) v = norm == 0 ? TAcc.Zero : TAcc.CreateTruncating(double.CreateTruncating(v) / norm);
        }
    }

    /// <summary>(x − mean) / (stddev + 1e-9) over 'axes' (default [0, 2, 3]), as the operator's function body defines it.</summary>
    private static TensorData MeanVarianceNormalize(EvaluationContext ctx, TensorData x)
    {
        var axes = Axes.Normalize(ctx.Op.GetInts("axes") ?? [0, 2, 3], x.Rank, ctx.Op);
        var layout = ReductionLayout.Create(x.Shape, axes);
        var xs = NormalizationMath.ToDoubles(x);
        var (mean, variance) = NormalizationMath.Moments(xs, layout);
        var invStdDev = variance.Select(v => 1 / (Math.Sqrt(v) + 1e-9)).ToArray();
        NormalizationMath.Normalize(xs, layout, mean, invStdDev);
        return NormalizationMath.FromDoubles(xs, x.Shape, x.ElementType);
    }

    /// <summary>
    /// LRN over channels (axis 1): y = x / (bias + alpha/size · Σ x²)^beta, the sum over channels
    /// c − ⌊(size−1)/2⌋ … c + ⌈(size−1)/2⌉ clipped to the tensor.
    /// </summary>
    private static TensorData LocalResponseNormalize(EvaluationContext ctx, TensorData x)
    {
        if (x.Rank < 2) throw ctx.Error($"input must have rank at least 2, got shape {TensorData.FormatShape(x.Shape)}");
        long size = ctx.Op.GetInt("size");
        if (size <= 0) throw ctx.Error($"size must be positive, got {size}");
        double alpha = ctx.Op.GetFloat("alpha", 1e-4f), beta = ctx.Op.GetFloat("beta", 0.75f), bias = ctx.Op.GetFloat("bias", 1f);
        long before = (size - 1) / 2, after = size - 1 - before;

        var xs = NormalizationMath.ToDoubles(x);
        var ys = new double[xs.Length];
        var lanes = AxisLanes.Of(x.Shape, 1);
        for (long l = 0; l < lanes.Count; l++)
        {
            long start = lanes.Start(l);
            for (long c = 0; c < lanes.Length; c++)
            {
                double squares = 0;
                for (long k = Math.Max(0, c - before); k <= Math.Min(lanes.Length - 1, c + after); k++)
                {
                    double v = xs[start + k * lanes.Inner];
                    squares += v * v;
                }
                long i = start + c * lanes.Inner;
                ys[i] = xs[i] / Math.Pow(bias + alpha / size * squares, beta);
            }
        }
        return NormalizationMath.FromDoubles(ys, x.Shape, x.ElementType);
    }
}
