using System.Numerics.Tensors;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// FlexAttention (domain ai.onnx.preview, version 1): scaled dot-product attention on rank-4
/// Q [B, Hq, L, E], K [B, Hkv, S, E], V [B, Hkv, S, Ev] with two optional customization graphs:
/// score_mod rewrites the scores [B, Hq, L, S] before the softmax, prob_mod the probabilities
/// after it. Query heads share key/value heads in contiguous groups. Scores are rounded to the
/// input type, then softmax, the graphs and the value product run in the softmax precision:
/// float32 for 16-bit inputs (or the softmax_precision attribute), the input type otherwise.
/// </summary>
[OpFamily]
public static class FlexAttentionOps
{
    public const string PreviewDomain = "ai.onnx.preview";

    public static void Register(OpRegistry r) => r.Add(new FlexAttentionDefinition());

    private sealed class FlexAttentionDefinition : OpDefinition
    {
        public override string Domain => PreviewDomain;
        public override string OpType => "FlexAttention";
        public override int MinInputs => 3;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, FloatBuffers.IsComputeType, "float, double, float16 or bfloat16");
            var type = Infer.SameElementType(ctx, 0, 1, 2);
            var precision = SoftmaxPrecision(ctx.Op, type, ctx.Error);
            Shape q = ctx.InputShape(0), k = ctx.InputShape(1), v = ctx.InputShape(2);
            var scores = Shape.Unranked;
            var y = Shape.Unranked;
            if (q.IsRanked && k.IsRanked && v.IsRanked)
            {
                CheckShapes(q, k, v, ctx.Error);
                scores = Shape.Of(q[0], q[1], q[2], k[2]);
                y = Shape.Of(q[0], q[1], q[2], v[3]);
            }
            foreach (var name in new[] { "score_mod", "prob_mod" })
            {
                if (!ctx.Op.HasAttribute(name)) continue;
                var outputs = ctx.InferGraph(ctx.Op.GetGraph(name), [new TensorType(precision, scores)]);
                if (outputs.Count != 1 || outputs[0] is not TensorType t || (t.ElementType != precision && t.ElementType != ElementType.Undefined))
                    throw ctx.Error($"{name} must map one {precision.OnnxName()} tensor to one {precision.OnnxName()} tensor");
            }
            ctx.SetOutput(0, type, y);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            TensorData q = ctx.Tensor(0), k = ctx.Tensor(1), v = ctx.Tensor(2);
            var type = q.ElementType;
            if (!FloatBuffers.IsComputeType(type) || k.ElementType != type || v.ElementType != type)
                throw ctx.Error("Q, K and V must share one float element type");
            var precision = SoftmaxPrecision(ctx.Op, type, ctx.Error);
            CheckShapes(Shape.Of(q.Shape), Shape.Of(k.Shape), Shape.Of(v.Shape), ctx.Error);
            var heads = new HeadGroups(q.Shape[0], q.Shape[1], k.Shape[1], q.Shape[2], k.Shape[2]);
            long size = q.Shape[3], vSize = v.Shape[3];
            long[] scoresShape = [heads.Batch, heads.QHeads, heads.QLength, heads.KeyCount];
            double scale = ctx.Op.HasAttribute("scale") ? ctx.Op.GetFloat("scale") : 1 / Math.Sqrt(size);

            // Scores are rounded to the input type, as the function body's MatMul in that type does.
            var scores = new double[heads.Rows * heads.KeyCount];
            var queries = FloatBuffers.Read(q);
            var keysByFeature = AttentionMath.ByFeature(FloatBuffers.Read(k), heads.Batch * heads.KvHeads, heads.KeyCount, size);
            for (long row = 0; row < heads.Rows; row++)
            {
                var scoreRow = scores.AsSpan((int)(row * heads.KeyCount), (int)heads.KeyCount);
                AttentionMath.Scores(queries.AsSpan((int)(row * size), (int)size),
                    keysByFeature.AsSpan((int)(heads.KvHeadOf(row) * size * heads.KeyCount), (int)(size * heads.KeyCount)), scale, scoreRow);
                foreach (ref double x in scoreRow) x = FloatBuffers.RoundTo(x, type);
            }

            // A copy: the softmax works in place, and the graph may return a tensor it shares.
            var probs = (double[])FloatBuffers.Read(Modify(ctx, "score_mod", FloatBuffers.Write(precision, scoresShape, scores))).Clone();
            for (long row = 0; row < heads.Rows; row++)
                AttentionMath.Softmax(probs.AsSpan((int)(row * heads.KeyCount), (int)heads.KeyCount), precision);
            probs = FloatBuffers.Read(Modify(ctx, "prob_mod", FloatBuffers.Write(precision, scoresShape, probs)));

            var values = FloatBuffers.Read(v);
            var y = new double[heads.Rows * vSize];
            for (long row = 0; row < heads.Rows; row++)
            {
                var output = y.AsSpan((int)(row * vSize), (int)vSize);
                long kvHead = heads.KvHeadOf(row);
                for (long j = 0; j < heads.KeyCount; j++)
                    TensorPrimitives.MultiplyAdd(values.AsSpan((int)((kvHead * heads.KeyCount + j) * vSize), (int)vSize),
                        probs[row * heads.KeyCount + j], output, output);
            }
            ctx.SetOutput(0, FloatBuffers.Write(type, [heads.Batch, heads.QHeads, heads.QLength, vSize], y));
        }

        /// <summary>Runs a customization graph on the scores or probabilities; returns them unchanged when it is absent.</summary>
        private static TensorData Modify(EvaluationContext ctx, string name, TensorData input)
        {
            if (!ctx.Op.HasAttribute(name)) return input;
            var outputs = ctx.RunGraph(ctx.Op.GetGraph(name), [input]);
            if (outputs.Count != 1 || outputs[0] is not TensorData result || result.ElementType != input.ElementType
                || !result.Shape.AsSpan().SequenceEqual(input.Shape))
                throw ctx.Error($"{name} must return one {input.ElementType.OnnxName()} tensor of shape {TensorData.FormatShape(input.Shape)}");
            return result;
        }

        private static ElementType SoftmaxPrecision(Operation op, ElementType inputType, Func<string, KilnException> error)
        {
            var precision = FloatBuffers.TypeAttribute(op, "softmax_precision")
                ?? (inputType is ElementType.Float16 or ElementType.BFloat16 ? ElementType.Float32 : inputType);
            return FloatBuffers.IsComputeType(precision) ? precision
                : throw error($"softmax_precision must be float, float16, bfloat16 or double, got {precision.OnnxName()}");
        }

        private static void CheckShapes(Shape q, Shape k, Shape v, Func<string, KilnException> error)
        {
            if (q.Rank != 4 || k.Rank != 4 || v.Rank != 4) throw error($"Q, K and V must be rank 4, got {q}, {k} and {v}");
            DimChecks.ExpectEqual(k[0], q[0], "K batch", error);
            DimChecks.ExpectEqual(v[0], q[0], "V batch", error);
            DimChecks.ExpectEqual(k[3], q[3], "K head size", error);
            DimChecks.ExpectEqual(v[1], k[1], "V heads", error);
            DimChecks.ExpectEqual(v[2], k[2], "V length", error);
            if (q[1].IsKnown && k[1].IsKnown && (k[1].Value <= 0 || q[1].Value % k[1].Value != 0))
                throw error($"Q heads ({q[1]}) must be a multiple of K/V heads ({k[1]})");
        }
    }

    /// <summary>
    /// The query rows [batch, q_heads, q_length] and the key/value head each reads: query heads
    /// share key/value heads in contiguous groups of q_heads / kv_heads.
    /// </summary>
    private readonly record struct HeadGroups(long Batch, long QHeads, long KvHeads, long QLength, long KeyCount)
    {
        public long Rows => Batch * QHeads * QLength;

        public long KvHeadOf(long row)
        {
            long batchHead = row / QLength;
            return batchHead / QHeads * KvHeads + batchHead % QHeads / (QHeads / KvHeads);
        }
    }
}
