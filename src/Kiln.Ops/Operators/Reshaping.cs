using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Operators that change only the shape, never the elements or their order: Flatten, Squeeze,
/// Unsqueeze (Reshape is in <see cref="ShapeOps"/>). Results share the input's storage. Shape
/// values pass through, so Unsqueeze of a gathered dimension stays symbolic.
/// </summary>
[OpFamily]
public static class Reshaping
{
    public static void Register(OpRegistry r)
    {
        r.Add(new FlattenDefinition());
        r.Add(new SqueezeDefinition());
        r.Add(new UnsqueezeDefinition());
    }

    /// <summary>Passes the symbolic contents of a shape tensor through a reshape to rank 0 or 1.</summary>
    private static void ForwardShapeValue(InferenceContext ctx, int resultRank)
    {
        if (resultRank <= 1 && ctx.InputShapeValue(0) is { } v) ctx.SetOutputShapeValue(0, v);
    }

    /// <summary>Flatten(x, axis): [d0 ... d(axis-1), d(axis) ... dn] to [d0·...·d(axis-1), d(axis)·...·dn].</summary>
    private sealed class FlattenDefinition : OpDefinition
    {
        public override string OpType => "Flatten";

        private static int Axis(Operation op, int rank)
        {
            long axis = op.GetInt("axis", 1);
            // The axis may equal the rank (everything goes into the first dimension).
            if (axis < -rank || axis > rank)
                throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: axis {axis} is out of range [{-rank}, {rank}]");
            return (int)(axis < 0 ? axis + rank : axis);
        }

        public override void InferTypes(InferenceContext ctx)
        {
            InferValues.ElementTypesFirst(ctx, ctx.InputElementType(0));
            var s = ctx.InputShape(0);
            int axis = Axis(ctx.Op, ctx.InputRank(0));
            Dim outer = 1, inner = 1;
            for (int i = 0; i < s.Rank; i++)
                if (i < axis) outer *= s[i]; else inner *= s[i];
            ctx.SetOutput(0, ctx.InputElementType(0), Shape.Of(outer, inner));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            int axis = Axis(ctx.Op, x.Rank);
            long outer = 1, inner = 1;
            for (int i = 0; i < x.Rank; i++)
                if (i < axis) outer *= x.Shape[i]; else inner *= x.Shape[i];
            ctx.SetOutput(0, x.Reshape([outer, inner]));
        }
    }

    /// <summary>Squeeze(x, axes?): removes the given size-1 axes, or every size-1 axis when axes is absent.</summary>
    private sealed class SqueezeDefinition : OpDefinition
    {
        public override string OpType => "Squeeze";
        public override int MaxInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            var et = ctx.InputElementType(0);
            InferValues.ElementTypesFirst(ctx, et);
            var s = ctx.InputShape(0);
            int rank = ctx.InputRank(0);
            int[] axes;
            if (!ctx.HasInput(1))
            {
                // Which symbolic sizes are 1 is known only at run time.
                if (!s.IsStatic) { ctx.SetOutput(0, et, Shape.Unranked); return; }
                axes = Enumerable.Range(0, rank).Where(i => s[i].Value == 1).ToArray();
            }
            else if (InferValues.KnownInts(ctx, 1) is { } given) axes = Axes.Normalize(given, rank, ctx.Op);
            else
            {
                var axesShape = ctx.InputShape(1);
                ctx.SetOutput(0, et, axesShape.IsRanked && axesShape.Rank == 1 && axesShape[0].TryGetValue(out long k)
                    ? InferValues.UnknownDims(rank - (int)k) : Shape.Unranked);
                return;
            }
            foreach (int a in axes)
                if (s[a].TryGetValue(out long size) && size != 1)
                    throw ctx.Error($"cannot squeeze axis {a} of size {size} in {s}");
            var dims = Enumerable.Range(0, rank).Where(i => !axes.Contains(i)).Select(i => s[i]).ToArray();
            ctx.SetOutput(0, et, new Shape(dims));
            ForwardShapeValue(ctx, dims.Length);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var axes = ctx.OptionalTensor(1) is { } given
                ? Axes.Normalize(given.ToInt64Array(), x.Rank, ctx.Op)
                : Enumerable.Range(0, x.Rank).Where(i => x.Shape[i] == 1).ToArray();
            foreach (int a in axes)
                if (x.Shape[a] != 1) throw ctx.Error($"cannot squeeze axis {a} of size {x.Shape[a]} in {TensorData.FormatShape(x.Shape)}");
            ctx.SetOutput(0, x.Reshape(Enumerable.Range(0, x.Rank).Where(i => !axes.Contains(i)).Select(i => x.Shape[i]).ToArray()));
        }
    }

    /// <summary>Unsqueeze(x, axes): inserts size-1 axes at the given positions of the result.</summary>
    private sealed class UnsqueezeDefinition : OpDefinition
    {
        public override string OpType => "Unsqueeze";
        public override int MinInputs => 2;

        /// <summary>The result's dimensions: axes index the result, the input's dimensions fill the rest in order.</summary>
        private static T[] Insert<T>(IReadOnlyList<T> dims, long[] axes, T one, Operation op)
        {
            int rank = dims.Count + axes.Length;
            var positions = Axes.Normalize(axes, rank, op);
            var result = new T[rank];
            for (int i = 0, k = 0; i < rank; i++)
                result[i] = positions.Contains(i) ? one : dims[k++];
            return result;
        }

        public override void InferTypes(InferenceContext ctx)
        {
            var et = ctx.InputElementType(0);
            InferValues.ElementTypesFirst(ctx, et);
            var s = ctx.InputShape(0);
            int rank = ctx.InputRank(0);
            if (InferValues.KnownInts(ctx, 1) is not { } axes)
            {
                var axesShape = ctx.InputShape(1);
                ctx.SetOutput(0, et, axesShape.IsRanked && axesShape.Rank == 1 && axesShape[0].TryGetValue(out long k)
                    ? InferValues.UnknownDims(rank + (int)k) : Shape.Unranked);
                return;
            }
            var dims = Insert(s.Dims, axes, (Dim)1, ctx.Op);
            ctx.SetOutput(0, et, new Shape(dims));
            ForwardShapeValue(ctx, dims.Length);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            ctx.SetOutput(0, x.Reshape(Insert(x.Shape, ctx.Tensor(1).ToInt64Array(), 1L, ctx.Op)));
        }
    }
}
