using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>Shape, Size and Reshape: the operators models use to compute and apply shapes.</summary>
[OpFamily]
public static class ShapeOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(new ShapeDefinition());
        r.Add(new SizeDefinition());
        r.Add(new ReshapeDefinition());
    }

    /// <summary>Shape(x, start, end): the dimensions of x as an int64 vector (a slice of them with start/end).</summary>
    private sealed class ShapeDefinition : OpDefinition
    {
        public override string OpType => "Shape";

        private static (int Start, int End) Range(Operation op, int rank)
        {
            long start = op.GetInt("start", 0), end = op.GetInt("end", rank);
            if (start < 0) start += rank;
            if (end < 0) end += rank;
            start = Math.Clamp(start, 0, rank);
            end = Math.Clamp(end, 0, rank);
            return ((int)start, (int)Math.Max(start, end));
        }

        public override void InferTypes(InferenceContext ctx)
        {
            var shape = ctx.InputShape(0);
            if (!shape.IsRanked) { ctx.SetOutput(0, ElementType.Int64, Shape.Of(Dim.Unknown())); return; }
            var (start, end) = Range(ctx.Op, shape.Rank);
            ctx.SetOutput(0, ElementType.Int64, Shape.Of(end - start));
            ctx.SetOutputShapeValue(0, shape.Dims.Skip(start).Take(end - start).ToArray());
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Input(0) as TensorData ?? throw ctx.Error("input must be a tensor");
            var (start, end) = Range(ctx.Op, x.Rank);
            ctx.SetOutput(0, TensorData.Vector(x.Shape[start..end]));
        }
    }

    /// <summary>Size(x): the number of elements of x as an int64 scalar.</summary>
    private sealed class SizeDefinition : OpDefinition
    {
        public override string OpType => "Size";

        public override void InferTypes(InferenceContext ctx)
        {
            ctx.SetOutput(0, ElementType.Int64, Shape.Scalar);
            var shape = ctx.InputShape(0);
            if (shape.IsRanked) ctx.SetOutputShapeValue(0, [shape.ElementCount]);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Input(0) as TensorData ?? throw ctx.Error("input must be a tensor");
            ctx.SetOutput(0, TensorData.Scalar(ElementType.Int64, x.ElementCount));
        }
    }

    /// <summary>Reshape(data, shape): 0 copies the input size (unless allowzero), -1 is inferred.</summary>
    private sealed class ReshapeDefinition : OpDefinition
    {
        public override string OpType => "Reshape";
        public override int MinInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            var et = ctx.InputElementType(0);
            var input = ctx.InputShape(0);
            bool allowZero = ctx.Op.GetInt("allowzero", 0) != 0;
            var target = ctx.InputShapeValue(1);
            if (target is null)
            {
                var ts = ctx.InputShape(1);
                if (ts.IsRanked && ts.Rank == 1 && ts[0].IsKnown)
                {
                    // Rank known, sizes not.
                    ctx.SetOutput(0, et, new Shape(Enumerable.Range(0, (int)ts[0].Value).Select(_ => Dim.Unknown())));
                    return;
                }
                ctx.SetOutput(0, et, Shape.Unranked);
                return;
            }
            var dims = new Dim[target.Length];
            int inferAxis = -1;
            Dim known = 1;
            for (int i = 0; i < target.Length; i++)
            {
                var d = target[i];
                if (d.TryGetValue(out long v))
                {
                    if (v == -1)
                    {
                        if (inferAxis >= 0) throw ctx.Error("shape has more than one -1");
                        inferAxis = i;
                        continue;
                    }
                    if (v < -1) throw ctx.Error($"shape has invalid size {v}");
                    if (v == 0 && !allowZero)
                    {
                        if (!input.IsRanked) { ctx.SetOutput(0, et, new Shape(target.Select(_ => Dim.Unknown()))); return; }
                        if (i >= input.Rank) throw ctx.Error($"shape copies dimension {i} (0) but the input has rank {input.Rank}");
                        d = input[i];
                    }
                }
                dims[i] = d;
                known *= d;
            }
            if (inferAxis >= 0)
            {
                if (!input.IsRanked) dims[inferAxis] = Dim.Unknown();
                else
                {
                    var total = input.ElementCount;
                    if (total.IsKnown && known.IsKnown)
                    {
                        if (known.Value == 0 || total.Value % known.Value != 0)
                            throw ctx.Error($"cannot reshape {input} ({total} elements) to [{string.Join(",", target)}]");
                        dims[inferAxis] = total.Value / known.Value;
                    }
                    else dims[inferAxis] = RemainingSize(input, dims.Where((_, i) => i != inferAxis));
                }
            }
            else if (input.IsRanked && input.ElementCount.IsKnown && known.IsKnown && input.ElementCount.Value != known.Value)
                throw ctx.Error($"cannot reshape {input} ({input.ElementCount} elements) to [{string.Join(",", dims)}] ({known} elements)");
            ctx.SetOutput(0, et, new Shape(dims));
            if (ctx.InputShapeValue(0) is { } values && dims.Length <= 1) ctx.SetOutputShapeValue(0, values);
        }

        /// <summary>
        /// The size a -1 stands for: the input's element count divided by the other target sizes,
        /// cancelling symbolic sizes the two share so [N,3,H,W] to [N,-1] gives H*W*3, not N*3*H*W/N.
        /// </summary>
        private static Dim RemainingSize(Shape input, IEnumerable<Dim> otherTargetDims)
        {
            var factors = input.Dims.Where(d => !d.IsKnown).ToList();
            long inputKnown = input.Dims.Where(d => d.IsKnown).Aggregate(1L, (a, d) => a * d.Value);
            Dim divisor = 1;
            foreach (var d in otherTargetDims)
                if (!factors.Remove(d)) divisor *= d;
            Dim symbolic = factors.Aggregate((Dim)1, (a, d) => a * d);
            return divisor.TryGetValue(out long k) && k != 0 && inputKnown % k == 0
                ? symbolic * (inputKnown / k)
                : symbolic * inputKnown / divisor;
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var target = ctx.Tensor(1).ToInt64Array();
            bool allowZero = ctx.Op.GetInt("allowzero", 0) != 0;
            var dims = new long[target.Length];
            int inferAxis = -1;
            long known = 1;
            for (int i = 0; i < target.Length; i++)
            {
                long v = target[i];
                if (v == -1)
                {
                    if (inferAxis >= 0) throw ctx.Error("shape has more than one -1");
                    inferAxis = i;
                    continue;
                }
                if (v == 0 && !allowZero)
                {
                    if (i >= x.Rank) throw ctx.Error($"shape copies dimension {i} but the input has rank {x.Rank}");
                    v = x.Shape[i];
                }
                if (v < 0) throw ctx.Error($"shape has invalid size {v}");
                dims[i] = v;
                known = checked(known * v);
            }
            if (inferAxis >= 0)
            {
                if (known == 0 || x.ElementCount % known != 0)
                    throw ctx.Error($"cannot reshape {TensorData.FormatShape(x.Shape)} to {TensorData.FormatShape(target)}");
                dims[inferAxis] = x.ElementCount / known;
            }
            else if (known != x.ElementCount)
                throw ctx.Error($"cannot reshape {TensorData.FormatShape(x.Shape)} ({x.ElementCount} elements) to {TensorData.FormatShape(dims)}");
            ctx.SetOutput(0, x.Reshape(dims));
        }
    }
}
