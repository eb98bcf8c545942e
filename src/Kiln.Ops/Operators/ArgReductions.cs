using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>ArgMax and ArgMin: int64 indices of the extreme along one axis (keepdims, select_last_index).</summary>
[OpFamily]
public static class ArgReductions
{
    public static void Register(OpRegistry r)
    {
        r.Add(new ArgDefinition("ArgMax", seekMax: true));
        r.Add(new ArgDefinition("ArgMin", seekMax: false));
    }

    private sealed class ArgDefinition(string opType, bool seekMax) : OpDefinition
    {
        public override string OpType => opType;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, t => t.IsNumeric(), "numeric");
            var shape = ctx.InputShape(0);
            if (!shape.IsRanked) { ctx.SetOutput(0, ElementType.Int64, Shape.Unranked); return; }
            int axis = Axes.Normalize(ctx.Op.GetInt("axis", 0), shape.Rank, ctx.Op);
            var dims = shape.Dims.ToList();
            if (ctx.Op.GetInt("keepdims", 1) != 0) dims[axis] = 1;
            else dims.RemoveAt(axis);
            ctx.SetOutput(0, ElementType.Int64, new Shape(dims));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            int axis = Axes.Normalize(ctx.Op.GetInt("axis", 0), x.Rank, ctx.Op);
            if (x.Shape[axis] == 0 && x.Shape.Where((_, d) => d != axis).All(d => d > 0))
                throw ctx.Error($"{opType} over an empty axis {axis} of shape {TensorData.FormatShape(x.Shape)}");
            if (!Dispatch.IsNativeNumeric(x.ElementType)) x = Conversions.ToFloat32(x);
            bool last = ctx.Op.GetInt("select_last_index", 0) != 0;
            var indices = Dispatch.Numeric<ArgVisitor, long[]>(x.ElementType, new(x, axis, seekMax, last));
            var shape = (long[])x.Shape.Clone();
            shape[axis] = 1;
            if (ctx.Op.GetInt("keepdims", 1) == 0) shape = shape.Where((_, d) => d != axis).ToArray();
            ctx.SetOutput(0, TensorData.FromInt64s(shape, indices));
        }
    }

    /// <summary>The winning index of each lane; ties go to the first (or last) occurrence, NaN wins as in numpy.</summary>
    private readonly struct ArgVisitor(TensorData x, int axis, bool seekMax, bool last) : INumericVisitor<long[]>
    {
        public long[] Visit<T>() where T : unmanaged, INumber<T>
        {
            var lanes = AxisLanes.Of(x.Shape, axis);
            var src = x.Data<T>();
            var result = new long[lanes.Count];
            for (long l = 0; l < lanes.Count; l++)
            {
                long start = lanes.Start(l);
                T best = src[start];
                long bestIndex = 0;
                for (long k = 1; k < lanes.Length; k++)
                {
                    T v = src[start + k * lanes.Inner];
                    if (T.IsNaN(best)) break;
                    bool better = T.IsNaN(v) || (seekMax ? v > best : v < best) || (last && v == best);
                    if (better) { best = v; bestIndex = k; }
                }
                result[l] = bestIndex;
            }
            return result;
        }
    }
}
