using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Operators that repeat the input's elements: Expand (broadcast to a shape) and Tile (repeat
/// along each axis). Both read the input through per-axis offsets with repeated entries.
/// </summary>
[OpFamily]
public static class Replication
{
    public static void Register(OpRegistry r)
    {
        r.Add(new ExpandDefinition());
        r.Add(new TileDefinition());
    }

    /// <summary>Expand(x, shape): x broadcast with a shape (numpy rules in both directions).</summary>
    private sealed class ExpandDefinition : OpDefinition
    {
        public override string OpType => "Expand";
        public override int MinInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            var et = ctx.InputElementType(0);
            var input = ctx.InputShape(0);
            Shape target;
            if (ctx.InputShapeValue(1) is { } dims)
            {
                if (dims.Any(d => d.TryGetValue(out long v) && v < 0)) throw ctx.Error($"shape [{string.Join(", ", dims)}] has a negative size");
                target = new Shape(dims);
            }
            else
            {
                var shapeOfShape = ctx.InputShape(1);
                if (!shapeOfShape.IsRanked || shapeOfShape.Rank != 1 || !shapeOfShape[0].TryGetValue(out long k))
                {
                    ctx.SetOutput(0, et, Shape.Unranked);
                    return;
                }
                target = InferValues.UnknownDims((int)k);
            }
            var result = Broadcasting.Shape(ctx, input, target) ?? Shape.Unranked;
            ctx.SetOutput(0, et, result);

            // A shape tensor broadcast to a vector (a scalar N expanded to [N, N]) keeps its values.
            if (result.IsRanked && result.Rank <= 1 && ctx.InputShapeValue(0) is { } values)
            {
                long length = result.Rank == 0 ? 1 : result[0].TryGetValue(out long l) ? l : -1;
                if (length >= 0 && length <= values.Length && (values.Length == length || values.Length == 1))
                    ctx.SetOutputShapeValue(0, Enumerable.Range(0, (int)length).Select(i => values[values.Length == 1 ? 0 : i]).ToArray());
            }
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var target = ctx.Tensor(1).ToInt64Array();
            if (target.Any(d => d < 0)) throw ctx.Error($"shape {TensorData.FormatShape(target)} has a negative size");
            var shape = Broadcasting.Shape(ctx, x.Shape, target);
            TensorCopy.CheckResultShape(shape, ctx.Error);
            var strides = Broadcasting.BroadcastStrides(x.Shape, shape);
            ctx.SetOutput(0, TensorCopy.ByAxisOffsets(x, shape.Select((d, i) => TensorCopy.Strided(d, 0, 1, strides[i])).ToArray()));
        }
    }

    /// <summary>Tile(x, repeats): x repeated repeats[i] times along each axis i.</summary>
    private sealed class TileDefinition : OpDefinition
    {
        public override string OpType => "Tile";
        public override int MinInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            var et = ctx.InputElementType(0);
            InferValues.ElementTypesFirst(ctx, et);
            var s = ctx.InputShape(0);
            int rank = ctx.InputRank(0);
            if (ctx.InputShapeValue(1) is not { } repeats)
            {
                ctx.SetOutput(0, et, InferValues.UnknownDims(rank));
                return;
            }
            if (repeats.Length != rank) throw ctx.Error($"repeats has {repeats.Length} entries for rank {rank}");
            if (repeats.Any(d => d.TryGetValue(out long v) && v < 0)) throw ctx.Error($"repeats [{string.Join(", ", repeats)}] has a negative count");
            ctx.SetOutput(0, et, new Shape(s.Dims.Select((d, i) => d * repeats[i])));
            if (rank == 1 && ctx.InputShapeValue(0) is { } values && repeats[0].TryGetValue(out long times) && values.Length * times <= 64)
                ctx.SetOutputShapeValue(0, Enumerable.Repeat(values, (int)times).SelectMany(v => v).ToArray());
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var repeats = ctx.Tensor(1).ToInt64Array();
            if (repeats.Length != x.Rank) throw ctx.Error($"repeats has {repeats.Length} entries for rank {x.Rank}");
            if (repeats.Any(r => r < 0)) throw ctx.Error($"repeats {TensorData.FormatShape(repeats)} has a negative count");
            TensorCopy.CheckResultShape(x.Shape.Select((d, a) => d * repeats[a]).ToArray(), ctx.Error);
            var strides = Broadcasting.Strides(x.Shape);
            var offsets = new long[x.Rank][];
            for (int a = 0; a < x.Rank; a++)
            {
                long size = x.Shape[a];
                offsets[a] = new long[size * repeats[a]];
                for (long k = 0; k < offsets[a].LongLength; k++) offsets[a][k] = k % size * strides[a];
            }
            ctx.SetOutput(0, TensorCopy.ByAxisOffsets(x, offsets));
        }
    }
}
