using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// RotaryEmbedding (opset 23): rotates pairs of features of each head by position-dependent
/// angles given as cos/sin caches. X is [batch, heads, length, head_size] or packed
/// [batch, length, heads * head_size] (num_heads says how many heads). The first
/// rotary_embedding_dim features (all by default) are rotated, pairing feature c with
/// c + dim/2, or with its neighbour when interleaved; the rest pass through. The caches are
/// [max_position, dim/2] indexed by position_ids [batch, length], or [batch, length, dim/2]
/// when there are no position ids.
/// </summary>
[OpFamily]
public static class RotaryEmbeddingOps
{
    public static void Register(OpRegistry r) => r.Add(new RotaryEmbeddingDefinition());

    private sealed class RotaryEmbeddingDefinition : OpDefinition
    {
        public override string OpType => "RotaryEmbedding";
        public override int MinInputs => 3;
        public override int MaxInputs => 4;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, t => t.IsFloat(), "a float type");
            Infer.SameElementType(ctx, 0, 1, 2);
            if (ctx.HasInput(3)) Infer.ElementTypeIn(ctx, 3, t => t == ElementType.Int64, "int64");
            var x = ctx.InputShape(0);
            if (x.IsRanked && x.Rank is not (3 or 4)) throw ctx.Error($"input must be rank 3 or 4, got {x}");
            if (x.IsRanked && x.Rank == 3 && ctx.Op.GetInt("num_heads", 0) <= 0)
                throw ctx.Error("a rank-3 input needs a positive num_heads attribute");
            Infer.SameAsInput(ctx);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            if (!x.ElementType.IsFloat()) throw ctx.Error($"input must be a float tensor, got {x.ElementType.OnnxName()}");
            var layout = RotaryLayout.Resolve(ctx.Op, x.Shape, ctx.Error);
            var (cos, sin) = CacheRows(ctx, layout);
            var data = (double[])FloatBuffers.Read(x).Clone();
            bool interleaved = ctx.Op.GetInt("interleaved", 0) != 0;
            long half = layout.RotaryDim / 2;
            for (long b = 0; b < layout.Batch; b++)
            for (long s = 0; s < layout.Length; s++)
            {
                long cacheRow = (b * layout.Length + s) * half;
                for (long h = 0; h < layout.Heads; h++)
                {
                    var head = data.AsSpan((int)layout.HeadOffset(b, h, s), (int)layout.HeadSize);
                    for (long c = 0; c < half; c++)
                    {
                        // The pair (x1, x2) is a complex number rotated by the position's angle.
                        int first = (int)(interleaved ? 2 * c : c), second = (int)(interleaved ? 2 * c + 1 : c + half);
                        double x1 = head[first], x2 = head[second], cosine = cos[cacheRow + c], sine = sin[cacheRow + c];
                        head[first] = cosine * x1 - sine * x2;
                        head[second] = sine * x1 + cosine * x2;
                    }
                }
            }
            ctx.SetOutput(0, FloatBuffers.Write(x.ElementType, x.Shape, data));
        }

        /// <summary>The cos and sin values of each (batch, position), [batch, length, dim/2], from the caches and position ids.</summary>
        private static (double[] Cos, double[] Sin) CacheRows(EvaluationContext ctx, RotaryLayout layout)
        {
            TensorData cosCache = ctx.Tensor(1), sinCache = ctx.Tensor(2);
            if (!cosCache.Shape.AsSpan().SequenceEqual(sinCache.Shape))
                throw ctx.Error($"cos_cache {TensorData.FormatShape(cosCache.Shape)} and sin_cache {TensorData.FormatShape(sinCache.Shape)} differ in shape");
            if (cosCache.ElementType != sinCache.ElementType || !cosCache.ElementType.IsFloat())
                throw ctx.Error("cos_cache and sin_cache must have the same float element type");
            long half = layout.RotaryDim / 2;
            long width = cosCache.Rank > 0 ? cosCache.Shape[^1] : 0;
            if (width < half) throw ctx.Error($"the caches have {width} values per position, rotating {layout.RotaryDim} features needs {half}");

            long[] rows;
            if (ctx.OptionalTensor(3) is { } positionIds)
            {
                if (cosCache.Rank != 2) throw ctx.Error($"with position_ids the caches must be [max_position, {half}], got {TensorData.FormatShape(cosCache.Shape)}");
                if (!positionIds.Shape.AsSpan().SequenceEqual([layout.Batch, layout.Length]))
                    throw ctx.Error($"position_ids must be [{layout.Batch},{layout.Length}], got {TensorData.FormatShape(positionIds.Shape)}");
                rows = positionIds.ToInt64Array();
                foreach (long p in rows)
                    if (p < 0 || p >= cosCache.Shape[0]) throw ctx.Error($"position id {p} is outside the cache of {cosCache.Shape[0]} positions");
            }
            else
            {
                if (!cosCache.Shape.AsSpan(0, Math.Min(2, cosCache.Rank)).SequenceEqual([layout.Batch, layout.Length]) || cosCache.Rank != 3)
                    throw ctx.Error($"without position_ids the caches must be [{layout.Batch},{layout.Length},{half}], got {TensorData.FormatShape(cosCache.Shape)}");
                rows = new long[layout.Batch * layout.Length];
                for (long i = 0; i < rows.LongLength; i++) rows[i] = i;
            }
            return (Gather(FloatBuffers.Read(cosCache), rows, width, half), Gather(FloatBuffers.Read(sinCache), rows, width, half));
        }

        /// <summary>The first <paramref name="half"/> values of the given rows of a cache with rows of <paramref name="width"/>.</summary>
        private static double[] Gather(double[] cache, long[] rows, long width, long half)
        {
            var result = new double[rows.LongLength * half];
            for (long i = 0; i < rows.LongLength; i++) Array.Copy(cache, rows[i] * width, result, i * half, half);
            return result;
        }
    }

    /// <summary>Where each head of X lives, and how many of its features rotate.</summary>
    private sealed record RotaryLayout(bool Packed, long Batch, long Heads, long Length, long HeadSize, long RotaryDim)
    {
        public static RotaryLayout Resolve(Operation op, long[] shape, Func<string, KilnException> error)
        {
            RotaryLayout layout;
            if (shape.Length == 4) layout = new(false, shape[0], shape[1], shape[2], shape[3], 0);
            else if (shape.Length == 3)
            {
                long heads = op.GetInt("num_heads", 0);
                if (heads <= 0 || shape[2] % heads != 0)
                    throw error($"a rank-3 input needs num_heads dividing its hidden size {shape[2]}, got {heads}");
                layout = new(true, shape[0], heads, shape[1], shape[2] / heads, 0);
            }
            else throw error($"input must be rank 3 or 4, got {TensorData.FormatShape(shape)}");
            long dim = op.GetInt("rotary_embedding_dim", 0);
            if (dim == 0) dim = layout.HeadSize;
            if (dim < 0 || dim > layout.HeadSize || dim % 2 != 0)
                throw error($"rotary_embedding_dim {dim} must be even and at most the head size {layout.HeadSize}");
            return layout with { RotaryDim = dim };
        }

        public long HeadOffset(long b, long h, long s) =>
            (Packed ? (b * Length + s) * Heads + h : (b * Heads + h) * Length + s) * HeadSize;
    }
}
