using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Softmax, LogSoftmax and Hardmax along one axis (default -1), the opset-13 form; older models
/// are upgraded on import. Computed in double, subtracting the lane's maximum so exp cannot overflow.
/// </summary>
[OpFamily]
public static class SoftmaxOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(new AxisTransformDefinition<SoftmaxLane>("Softmax"));
        r.Add(new AxisTransformDefinition<LogSoftmaxLane>("LogSoftmax"));
        r.Add(new AxisTransformDefinition<HardmaxLane>("Hardmax"));
    }

    /// <summary>A float operator mapping each lane along 'axis' (default -1) to a lane of the same length.</summary>
    private sealed class AxisTransformDefinition<TTransform>(string opType) : OpDefinition where TTransform : struct, ILaneTransform
    {
        public override string OpType => opType;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, t => t.IsFloat(), "a float type");
            Infer.SameAsInput(ctx);
            if (ctx.InputShape(0).IsRanked) Axes.Normalize(ctx.Op.GetInt("axis", -1), ctx.InputShape(0).Rank, ctx.Op);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            if (!x.ElementType.IsFloat()) throw ctx.Error($"needs a float tensor, got {x.ElementType.OnnxName()}");
            int axis = Axes.Normalize(ctx.Op.GetInt("axis", -1), x.Rank, ctx.Op);
            ctx.SetOutput(0, AxisLanes.Map(x, axis, default(TTransform)));
        }
    }

    /// <summary>The lane's maximum and Σ exp(x − max), in double.</summary>
    internal static (double Max, double SumExp) MaxAndSumExp<TAcc>(Span<TAcc> lane) where TAcc : unmanaged, INumber<TAcc>
    {
        double max = double.NegativeInfinity;
        foreach (var v in lane) max = Math.Max(max, double.CreateTruncating(v));
        double sum = 0;
        foreach (var v in lane) sum += Math.Exp(double.CreateTruncating(v) - max);
        return (max, sum);
    }

    private struct SoftmaxLane : ILaneTransform
    {
        public readonly void Apply<TAcc>(Span<TAcc> lane) where TAcc : unmanaged, INumber<TAcc>
        {
            var (max, sum) = MaxAndSumExp(lane);
            foreach (ref var v in lane) v = TAcc.CreateTruncating(Math.Exp(double.CreateTruncating(v) - max) / sum);
        }
    }

    internal struct LogSoftmaxLane : ILaneTransform
    {
        public readonly void Apply<TAcc>(Span<TAcc> lane) where TAcc : unmanaged, INumber<TAcc>
        {
            var (max, sum) = MaxAndSumExp(lane);
            double shift = max + Math.Log(sum);
            foreach (ref var v in lane) v = TAcc.CreateTruncating(double.CreateTruncating(v) - shift);
        }
    }

    /// <summary>1 at the first occurrence of the lane's maximum, 0 elsewhere.</summary>
    private struct HardmaxLane : ILaneTransform
    {
        public readonly void Apply<TAcc>(Span<TAcc> lane) where TAcc : unmanaged, INumber<TAcc>
        {
            int best = 0;
            for (int k = 1; k < lane.Length; k++)
                if (lane[k] > lane[best]) best = k;
            lane.Clear();
            if (lane.Length > 0) lane[best] = TAcc.One;
        }
    }
}
