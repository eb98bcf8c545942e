using System.Numerics.Tensors;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// LinearAttention (opset 27): recurrent linear attention. Each key/value head keeps a state
/// matrix S [key_size, value_size], carried in past_state / present_state [batch, kv_heads,
/// key_size, value_size]. For each time step t, by update_rule:
/// <list type="bullet">
/// <item>"linear": S += k vᵀ</item>
/// <item>"gated": S = exp(decay) ⊙ S + k vᵀ (decay per key feature, or per head)</item>
/// <item>"delta": S += k (beta (v − Sᵀk))ᵀ</item>
/// <item>"gated_delta" (default): the delta rule applied to the decayed state</item>
/// </list>
/// and the output of each query head is scale · qᵀ S of its key/value head (query heads are
/// grouped onto key/value heads as in grouped-query attention). Q, K, V, decay and beta are packed
/// [batch, time, heads * size]. The state is kept in double; each step's output is rounded to
/// the element type, as the spec's function body does.
/// </summary>
[OpFamily]
public static class LinearAttentionOps
{
    public static void Register(OpRegistry r) => r.Add(new LinearAttentionDefinition());

    private const int Query = 0, Key = 1, Value = 2, PastState = 3, Decay = 4, Beta = 5;

    private sealed class LinearAttentionDefinition : OpDefinition
    {
        public override string OpType => "LinearAttention";
        public override int MinInputs => 3;
        public override int MaxInputs => 6;
        public override int MaxOutputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, Query, FloatBuffers.IsComputeType, "float, double, float16 or bfloat16");
            var type = Infer.SameElementType(ctx, Query, Key, Value, PastState, Decay, Beta);
            var rule = UpdateRule.Read(ctx.Op, ctx.Error);
            rule.CheckInputs(ctx.HasInput(Decay), ctx.HasInput(Beta), ctx.Error);
            Shape q = ctx.InputShape(Query), k = ctx.InputShape(Key), v = ctx.InputShape(Value);
            if (!q.IsRanked || !k.IsRanked || !v.IsRanked) throw new ShapeUnknownException();
            var g = LinearAttentionGeometry.Resolve(ctx.Op, q, k, v, ctx.Error);
            if (ctx.HasInput(PastState) && ctx.InputShape(PastState) is { IsRanked: true } p)
                g.CheckState(p, ctx.Error);
            ctx.SetOutput(0, type, Shape.Of(g.Batch, g.Time, g.QHeads * g.ValueSize));
            if (ctx.HasOutput(1)) ctx.SetOutput(1, type, Shape.Of(g.Batch, g.KvHeads, g.KeySize, g.ValueSize));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            TensorData q = ctx.Tensor(Query), k = ctx.Tensor(Key), v = ctx.Tensor(Value);
            TensorData? past = ctx.OptionalTensor(PastState), decay = ctx.OptionalTensor(Decay), beta = ctx.OptionalTensor(Beta);
            var type = q.ElementType;
            if (!FloatBuffers.IsComputeType(type) || new[] { k, v, past, decay, beta }.Any(t => t is not null && t.ElementType != type))
                throw ctx.Error("query, key, value, past_state, decay and beta must share one float element type");
            var rule = UpdateRule.Read(ctx.Op, ctx.Error);
            rule.CheckInputs(decay is not null, beta is not null, ctx.Error);
            var g = LinearAttentionGeometry.Resolve(ctx.Op, Shape.Of(q.Shape), Shape.Of(k.Shape), Shape.Of(v.Shape), ctx.Error);
            if (past is not null) g.CheckState(Shape.Of(past.Shape), ctx.Error);

            long batch = g.Batch.Value, time = g.Time.Value, kvHeads = g.KvHeads.Value, dk = g.KeySize.Value, dv = g.ValueSize.Value;
            long decayWidth = rule.Gated ? PerHeadWidth(decay!, batch, time, kvHeads, dk, "decay", ctx) : 0;
            long betaWidth = rule.Delta ? PerHeadWidth(beta!, batch, time, kvHeads, 1, "beta", ctx) : 0;
            var state = past is null ? new double[batch * kvHeads * dk * dv] : (double[])FloatBuffers.Read(past).Clone();
            var step = new RecurrentStep(rule, g, FloatBuffers.Read(q), FloatBuffers.Read(k), FloatBuffers.Read(v),
                decay is null ? null : FloatBuffers.Read(decay), decayWidth, beta is null ? null : FloatBuffers.Read(beta), betaWidth,
                ctx.Op.HasAttribute("scale") ? ctx.Op.GetFloat("scale") : 1 / Math.Sqrt(dk), type);
            var output = new double[batch * time * g.QHeads.Value * dv];
            for (long b = 0; b < batch; b++)
            for (long head = 0; head < kvHeads; head++)
            {
                var s = state.AsSpan((int)((b * kvHeads + head) * dk * dv), (int)(dk * dv));
                for (long t = 0; t < time; t++) step.Run(s, output, b, t, head);
            }
            ctx.SetOutput(0, FloatBuffers.Write(type, [batch, time, g.QHeads.Value * dv], output));
            if (ctx.HasOutput(1)) ctx.SetOutput(1, FloatBuffers.Write(type, [batch, kvHeads, dk, dv], state));
        }

        /// <summary>
        /// decay or beta [batch, time, kv_heads * width]: a value per head and feature (width
        /// <paramref name="featureWidth"/>), per head (width 1), or for beta one value for all heads.
        /// Returns the number of values per head, 0 for one shared value.
        /// </summary>
        private static long PerHeadWidth(TensorData t, long batch, long time, long kvHeads, long featureWidth, string name, EvaluationContext ctx)
        {
            long last = t.Rank == 3 && t.Shape[0] == batch && t.Shape[1] == time ? t.Shape[2] : -1;
            if (last == kvHeads * featureWidth) return featureWidth;
            if (last == kvHeads) return 1;
            if (last == 1 && name == "beta") return 0;
            throw ctx.Error($"{name} must be [{batch},{time},{kvHeads * featureWidth}] or [{batch},{time},{kvHeads}], got {TensorData.FormatShape(t.Shape)}");
        }
    }

    /// <summary>What the update_rule attribute asks for: a decay gate, a delta-rule write, or both.</summary>
    private sealed record UpdateRule(bool Gated, bool Delta)
    {
        public static UpdateRule Read(Operation op, Func<string, KilnException> error) => op.GetString("update_rule", "gated_delta") switch
        {
            "linear" => new(false, false),
            "gated" => new(true, false),
            "delta" => new(false, true),
            "gated_delta" => new(true, true),
            var r => throw error($"update_rule must be linear, gated, delta or gated_delta, got \"{r}\""),
        };

        public void CheckInputs(bool hasDecay, bool hasBeta, Func<string, KilnException> error)
        {
            if (Gated && !hasDecay) throw error("a gated update_rule needs the decay input");
            if (Delta && !hasBeta) throw error("a delta update_rule needs the beta input");
        }
    }

    /// <summary>One time step of one key/value head: update its state, then read it with the head's queries.</summary>
    private sealed class RecurrentStep(UpdateRule rule, LinearAttentionGeometry g, double[] q, double[] k, double[] v,
        double[]? decay, long decayWidth, double[]? beta, long betaWidth, double scale, ElementType type)
    {
        private readonly long _dk = g.KeySize.Value, _dv = g.ValueSize.Value, _time = g.Time.Value;
        private readonly long _qHeads = g.QHeads.Value, _kvHeads = g.KvHeads.Value;
        private readonly double[] _write = new double[g.ValueSize.Value];

        public void Run(Span<double> state, double[] output, long b, long t, long head)
        {
            long token = b * _time + t;
            var key = k.AsSpan((int)((token * _kvHeads + head) * _dk), (int)_dk);
            var value = v.AsSpan((int)((token * _kvHeads + head) * _dv), (int)_dv);
            if (rule.Gated)
            {
                for (int i = 0; i < _dk; i++)
                {
                    double gate = Math.Exp(decay![(token * _kvHeads + head) * decayWidth + (decayWidth == 1 ? 0 : i)]);
                    TensorPrimitives.Multiply(Row(state, i), gate, Row(state, i));
                }
            }
            // The value written at 'key': v itself, or with the delta rule only what the state
            // does not already recall for that key (Sᵀk), weighted by beta.
            if (rule.Delta)
            {
                ReadState(state, key, _write);
                TensorPrimitives.Subtract(value, _write, _write);
                TensorPrimitives.Multiply(_write, beta![token * Math.Max(1, _kvHeads * betaWidth) + head * betaWidth], _write);
            }
            else value.CopyTo(_write);
            for (int i = 0; i < _dk; i++) TensorPrimitives.MultiplyAdd(_write, key[i], Row(state, i), Row(state, i));

            long group = _qHeads / _kvHeads;
            for (long h = head * group; h < (head + 1) * group; h++)
            {
                var result = output.AsSpan((int)((token * _qHeads + h) * _dv), (int)_dv);
                ReadState(state, q.AsSpan((int)((token * _qHeads + h) * _dk), (int)_dk), result);
                foreach (ref double r in result) r = FloatBuffers.RoundTo(scale * r, type);
            }
        }

        /// <summary>Sᵀx: the state's rows (one per key feature) weighted by x.</summary>
        private void ReadState(ReadOnlySpan<double> state, ReadOnlySpan<double> x, Span<double> result)
        {
            result.Clear();
            for (int i = 0; i < _dk; i++) TensorPrimitives.MultiplyAdd(state.Slice((int)(i * _dv), (int)_dv), x[i], result, result);
        }

        private Span<double> Row(Span<double> state, int i) => state.Slice((int)(i * _dv), (int)_dv);
    }
}

/// <summary>
/// The sizes of a LinearAttention node, symbolic during inference: query [B, T, Hq*dk], key
/// [B, T, Hkv*dk], value [B, T, Hkv*dv], state [B, Hkv, dk, dv].
/// </summary>
internal sealed record LinearAttentionGeometry(Dim Batch, Dim Time, Dim QHeads, Dim KvHeads, Dim KeySize, Dim ValueSize)
{
    public static LinearAttentionGeometry Resolve(Operation op, Shape q, Shape k, Shape v, Func<string, KilnException> error)
    {
        if (q.Rank != 3 || k.Rank != 3 || v.Rank != 3) throw error($"query, key and value must be rank 3, got {q}, {k} and {v}");
        long qHeads = op.GetInt("q_num_heads", 0), kvHeads = op.GetInt("kv_num_heads", 0);
        if (qHeads <= 0 || kvHeads <= 0 || qHeads % kvHeads != 0)
            throw error($"q_num_heads ({qHeads}) must be a positive multiple of kv_num_heads ({kvHeads})");
        foreach (var (name, shape) in new[] { ("key", k), ("value", v) })
        {
            DimChecks.ExpectEqual(shape[0], q[0], $"{name} batch", error);
            DimChecks.ExpectEqual(shape[1], q[1], $"{name} time", error);
        }
        var keySize = DimChecks.SplitEvenly(q[2], qHeads, "query hidden size", error);
        DimChecks.ExpectEqual(DimChecks.SplitEvenly(k[2], kvHeads, "key hidden size", error), keySize, "key head size", error);
        return new(q[0], q[1], qHeads, kvHeads, keySize, DimChecks.SplitEvenly(v[2], kvHeads, "value hidden size", error));
    }

    public void CheckState(Shape state, Func<string, KilnException> error)
    {
        if (state.Rank != 4) throw error($"past_state must be rank 4, got {state}");
        Dim[] expected = [Batch, KvHeads, KeySize, ValueSize];
        for (int i = 0; i < 4; i++) DimChecks.ExpectEqual(state[i], expected[i], $"past_state dimension {i}", error);
    }
}
