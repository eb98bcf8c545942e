using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// TensorScatter (opset 24): the functional form of a KV-cache update. present_cache is a copy
/// of past_cache [batch, ..., max_length, ...] with update [batch, ..., length, ...] written along
/// the sequence axis (attribute axis, default -2) starting at write_indices[b] for each batch
/// entry b (0 when absent). In "circular" mode positions wrap around max_length; in "linear" mode
/// the update must fit. Works on any element type (it only moves elements).
/// </summary>
[OpFamily]
public static class TensorScatterOps
{
    public static void Register(OpRegistry r) => r.Add(new TensorScatterDefinition());

    private sealed class TensorScatterDefinition : OpDefinition
    {
        public override string OpType => "TensorScatter";
        public override int MinInputs => 2;
        public override int MaxInputs => 3;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.SameElementType(ctx, 0, 1);
            if (ctx.HasInput(2)) Infer.ElementTypeIn(ctx, 2, t => t == ElementType.Int64, "int64");
            ReadMode(ctx.Op, ctx.Error);
            Shape cache = ctx.InputShape(0), update = ctx.InputShape(1);
            if (cache.IsRanked && update.IsRanked)
            {
                int axis = SequenceAxis(ctx.Op, cache.Rank, ctx.Error);
                if (update.Rank != cache.Rank) throw ctx.Error($"update {update} and past_cache {cache} must have the same rank");
                for (int i = 0; i < cache.Rank; i++)
                {
                    Dim c = cache[i], u = update[i];
                    if (c.IsKnown && u.IsKnown && (i == axis ? u.Value > c.Value : u.Value != c.Value))
                        throw ctx.Error($"update {update} does not fit past_cache {cache} along sequence axis {axis}");
                }
                if (ctx.HasInput(2) && ctx.InputShape(2) is { IsRanked: true } w && (w.Rank != 1 || (w[0].IsKnown && cache[0].IsKnown && w[0] != cache[0])))
                    throw ctx.Error($"write_indices must have shape [{cache[0]}], got {w}");
            }
            Infer.SameAsInput(ctx);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            TensorData cache = ctx.Tensor(0), update = ctx.Tensor(1);
            if (cache.ElementType != update.ElementType)
                throw ctx.Error($"update must have past_cache's element type {cache.ElementType.OnnxName()}, got {update.ElementType.OnnxName()}");
            bool circular = ReadMode(ctx.Op, ctx.Error);
            int axis = SequenceAxis(ctx.Op, cache.Rank, ctx.Error);
            if (update.Rank != cache.Rank || Enumerable.Range(0, cache.Rank).Any(i => i == axis ? update.Shape[i] > cache.Shape[i] : update.Shape[i] != cache.Shape[i]))
                throw ctx.Error($"update {TensorData.FormatShape(update.Shape)} does not fit past_cache {TensorData.FormatShape(cache.Shape)} along sequence axis {axis}");

            long batch = cache.Shape[0], capacity = cache.Shape[axis], length = update.Shape[axis];
            long[] starts = ctx.OptionalTensor(2) is { } w ? w.ToInt64Array() : new long[batch];
            if (starts.LongLength != batch || ctx.OptionalTensor(2) is { Rank: not 1 })
                throw ctx.Error($"write_indices must have shape [{batch}]");

            // Per batch entry: 'outer' runs of the sequence axis, each position a block of 'inner' elements.
            long outer = 1, inner = cache.ElementType.IsComplex() ? 2 : 1;
            for (int i = 1; i < axis; i++) outer *= cache.Shape[i];
            for (int i = axis + 1; i < cache.Rank; i++) inner *= cache.Shape[i];

            var present = cache.Clone();
            for (long b = 0; b < batch; b++)
            {
                long start = starts[b];
                if (start < 0 || (!circular && start + length > capacity))
                    throw ctx.Error($"write index {start} of batch entry {b} cannot take {length} positions in a cache of {capacity}");
                for (long o = 0; o < outer; o++)
                for (long s = 0; s < length; s++)
                {
                    long position = circular ? (start + s) % capacity : start + s;
                    Array.Copy(update.Storage, ((b * outer + o) * length + s) * inner,
                        present.Storage, ((b * outer + o) * capacity + position) * inner, inner);
                }
            }
            ctx.SetOutput(0, present);
        }

        /// <summary>True for "circular", false for "linear" (the default).</summary>
        private static bool ReadMode(Operation op, Func<string, KilnException> error) => op.GetString("mode", "linear") switch
        {
            "linear" => false,
            "circular" => true,
            var m => throw error($"mode must be \"linear\" or \"circular\", got \"{m}\""),
        };

        private static int SequenceAxis(Operation op, int rank, Func<string, KilnException> error)
        {
            int axis = Axes.Normalize(op.GetInt("axis", -2), rank, op);
            return axis != 0 ? axis : throw error("axis cannot be 0, the batch axis");
        }
    }
}
