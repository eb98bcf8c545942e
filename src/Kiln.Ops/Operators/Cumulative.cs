using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// CumSum and CumProd(x, axis): running sums or products along one axis (axis is a scalar
/// int32/int64 input), optionally exclusive (each result leaves out its own element) and reverse
/// (running from the end). Exact for integers (accumulated in 64 bits and wrapped back).
/// </summary>
[OpFamily]
public static class Cumulative
{
    public static void Register(OpRegistry r)
    {
        r.Add(new CumulativeDefinition("CumSum", product: false));
        r.Add(new CumulativeDefinition("CumProd", product: true));
    }

    private sealed class CumulativeDefinition(string opType, bool product) : OpDefinition
    {
        public override string OpType => opType;
        public override int MinInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, t => t.IsNumeric(), "numeric");
            Infer.ElementTypeIn(ctx, 1, t => t is ElementType.Int32 or ElementType.Int64, "int32 or int64");
            if (ctx.InputShape(1) is { IsRanked: true } s && s.Rank > 1) throw ctx.Error($"axis must be a scalar, got shape {s}");
            Infer.SameAsInput(ctx);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var axisTensor = ctx.Tensor(1);
            if (axisTensor.ElementCount != 1 || axisTensor.Rank > 1)
                throw ctx.Error($"axis must be a scalar, got shape {TensorData.FormatShape(axisTensor.Shape)}");
            int axis = Axes.Normalize(axisTensor.GetInt64(0), x.Rank, ctx.Op);
            var lane = new CumulativeLane(product, ctx.Op.GetInt("exclusive", 0) != 0, ctx.Op.GetInt("reverse", 0) != 0);
            ctx.SetOutput(0, AxisLanes.Map(x, axis, lane));
        }
    }

    private readonly struct CumulativeLane(bool product, bool exclusive, bool reverse) : ILaneTransform
    {
        public void Apply<TAcc>(Span<TAcc> lane) where TAcc : unmanaged, INumber<TAcc>
        {
            var running = product ? TAcc.One : TAcc.Zero;
            for (int step = 0; step < lane.Length; step++)
            {
                ref var v = ref lane[reverse ? lane.Length - 1 - step : step];
                var next = product ? running * v : running + v;
                v = exclusive ? running : next;
                running = next;
            }
        }
    }
}
