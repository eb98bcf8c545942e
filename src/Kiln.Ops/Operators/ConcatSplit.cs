using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Concat (join tensors along an axis) and Split (cut one along an axis). Both propagate the
/// symbolic contents of shape vectors, so shapes assembled from pieces stay precise.
/// </summary>
[OpFamily]
public static class ConcatSplit
{
    public static void Register(OpRegistry r)
    {
        r.Add(new ConcatDefinition());
        r.Add(new SplitDefinition());
    }

    private sealed class ConcatDefinition : OpDefinition
    {
        public override string OpType => "Concat";
        public override int MaxInputs => int.MaxValue;

        public override void InferTypes(InferenceContext ctx)
        {
            var inputs = Enumerable.Range(0, ctx.InputCount).ToArray();
            if (inputs.Any(i => !ctx.HasInput(i))) throw ctx.Error("inputs must all be present");
            var et = Infer.SameElementType(ctx, inputs);
            InferValues.ElementTypesFirst(ctx, et);
            int rank = ctx.InputRank(0);
            int axis = Axes.Normalize(ctx.Op.GetInt("axis"), rank, ctx.Op);
            var dims = ctx.InputShape(0).Dims.ToArray();
            foreach (int i in inputs.Skip(1))
            {
                var s = ctx.InputShape(i);
                if (!s.IsRanked) throw new ShapeUnknownException();
                if (s.Rank != rank) throw ctx.Error($"input {i} has rank {s.Rank}, input 0 has rank {rank}");
                for (int d = 0; d < rank; d++)
                    dims[d] = d == axis ? dims[d] + s[d] : InferValues.Same(ctx, dims[d], s[d], $"input {i} dimension {d}");
            }
            ctx.SetOutput(0, et, new Shape(dims));

            if (rank == 1)
            {
                var values = inputs.Select(ctx.InputShapeValue).ToArray();
                if (values.All(v => v is not null)) ctx.SetOutputShapeValue(0, values.SelectMany(v => v!).ToArray());
            }
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var inputs = Enumerable.Range(0, ctx.InputCount).Select(ctx.Tensor).ToArray();
            var first = inputs[0];
            int axis = Axes.Normalize(ctx.Op.GetInt("axis"), first.Rank, ctx.Op);
            var shape = (long[])first.Shape.Clone();
            shape[axis] = 0;
            foreach (var (x, i) in inputs.Select((x, i) => (x, i)))
            {
                if (x.ElementType != first.ElementType) throw ctx.Error($"input {i} is {x.ElementType.OnnxName()}, input 0 is {first.ElementType.OnnxName()}");
                if (x.Rank != first.Rank) throw ctx.Error($"input {i} has rank {x.Rank}, input 0 has rank {first.Rank}");
                for (int d = 0; d < x.Rank; d++)
                    if (d != axis && x.Shape[d] != first.Shape[d])
                        throw ctx.Error($"input {i} has shape {TensorData.FormatShape(x.Shape)}, which does not match {TensorData.FormatShape(first.Shape)} off axis {axis}");
                shape[axis] += x.Shape[axis];
            }
            var result = TensorData.Zeros(first.ElementType, shape);

            // The result is, for each index before the axis, each input's block in turn.
            long outer = shape.Take(axis).Aggregate(1L, (a, b) => a * b);
            long position = 0;
            for (long o = 0; o < outer; o++)
                foreach (var x in inputs)
                {
                    long block = x.ElementCount / Math.Max(outer, 1);
                    Array.Copy(x.Storage, o * block, result.Storage, position, block);
                    position += block;
                }
            ctx.SetOutput(0, result);
        }
    }

    /// <summary>Split(x, split?): pieces of the given sizes along an axis, or num_outputs near-equal pieces (the last may be smaller).</summary>
    private sealed class SplitDefinition : OpDefinition
    {
        public override string OpType => "Split";
        public override int MaxInputs => 2;
        public override int MaxOutputs => int.MaxValue;

        /// <summary>Piece sizes for num_outputs pieces of a dimension: ceil(size / n) each, the rest in the last ones.</summary>
        private static Dim[] EqualPieces(Dim size, int count)
        {
            var chunk = Dim.CeilDiv(size, count);
            return Enumerable.Range(0, count)
                .Select(i => size.IsKnown ? Math.Clamp(size.Value - i * chunk.Value, 0, chunk.Value) : i < count - 1 ? chunk : size - chunk * (count - 1))
                .ToArray();
        }

        private static int PieceCount(Operation op, int outputs)
        {
            long n = op.GetInt("num_outputs", outputs);
            if (n != outputs) throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: num_outputs is {n} but the node has {outputs} outputs");
            return outputs;
        }

        public override void InferTypes(InferenceContext ctx)
        {
            var et = ctx.InputElementType(0);
            InferValues.ElementTypesFirst(ctx, Enumerable.Repeat(et, ctx.OutputCount).ToArray());
            var s = ctx.InputShape(0);
            int axis = Axes.Normalize(ctx.Op.GetInt("axis", 0), ctx.InputRank(0), ctx.Op);
            Dim[] sizes;
            if (!ctx.HasInput(1)) sizes = EqualPieces(s[axis], PieceCount(ctx.Op, ctx.OutputCount));
            else if (ctx.InputShapeValue(1) is { } given)
            {
                if (given.Length != ctx.OutputCount) throw ctx.Error($"split has {given.Length} sizes for {ctx.OutputCount} outputs");
                var total = given.Aggregate((Dim)0, (a, b) => a + b);
                InferValues.Same(ctx, total, s[axis], $"the sum of split [{string.Join(", ", given)}] and axis {axis}");
                sizes = given;
            }
            else sizes = Enumerable.Range(0, ctx.OutputCount).Select(_ => Dim.Unknown()).ToArray();

            var values = ctx.InputShapeValue(0);
            Dim offset = 0;
            for (int i = 0; i < sizes.Length; i++)
            {
                ctx.SetOutput(i, et, s.With(axis, sizes[i]));
                if (values is not null && s.Rank == 1 && offset.IsKnown && sizes[i].IsKnown)
                    ctx.SetOutputShapeValue(i, values.Skip((int)offset.Value).Take((int)sizes[i].Value).ToArray());
                offset += sizes[i];
            }
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            int axis = Axes.Normalize(ctx.Op.GetInt("axis", 0), x.Rank, ctx.Op);
            long[] sizes;
            if (ctx.OptionalTensor(1) is { } split)
            {
                sizes = split.ToInt64Array();
                if (sizes.Length != ctx.OutputCount) throw ctx.Error($"split has {sizes.Length} sizes for {ctx.OutputCount} outputs");
                if (sizes.Any(n => n < 0) || sizes.Sum() != x.Shape[axis])
                    throw ctx.Error($"split {TensorData.FormatShape(sizes)} does not divide axis {axis} of size {x.Shape[axis]}");
            }
            else sizes = EqualPieces(x.Shape[axis], PieceCount(ctx.Op, ctx.OutputCount)).Select(d => d.Value).ToArray();

            var stride = Broadcasting.Strides(x.Shape)[axis];
            long start = 0;
            for (int i = 0; i < sizes.Length; i++)
            {
                var offsets = TensorCopy.IdentityOffsets(x.Shape);
                offsets[axis] = TensorCopy.Strided(sizes[i], start, 1, stride);
                if (ctx.HasOutput(i)) ctx.SetOutput(i, TensorCopy.ByAxisOffsets(x, offsets));
                start += sizes[i];
            }
        }
    }
}
