using System.Numerics.Tensors;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Attention (opset 23/24): scaled dot-product attention over Q, K, V given as
/// [batch, heads, length, head_size] or packed [batch, length, heads * head_size], with
/// grouped-query heads, a boolean or additive mask, causal masking, a key/value cache
/// (past_key/past_value in, present_key/present_value out), per-batch valid key counts
/// (nonpad_kv_seqlen), softcap, and an optional fourth result exposing the scores at one of four
/// stages. Computed in double, each result rounded once to its element type.
/// </summary>
[OpFamily]
public static class AttentionOps
{
    public static void Register(OpRegistry r) => r.Add(new AttentionDefinition());

    private const int Q = 0, K = 1, V = 2, Mask = 3, PastKey = 4, PastValue = 5, NonPadLength = 6;

    private sealed class AttentionDefinition : OpDefinition
    {
        public override string OpType => "Attention";
        public override int MinInputs => 3;
        public override int MaxInputs => 7;
        public override int MaxOutputs => 4;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, Q, FloatBuffers.IsComputeType, "float, double, float16 or bfloat16");
            Infer.ElementTypeIn(ctx, V, FloatBuffers.IsComputeType, "float, double, float16 or bfloat16");
            var qType = Infer.SameElementType(ctx, Q, K, PastKey);
            var vType = Infer.SameElementType(ctx, V, PastValue);
            if (ctx.HasInput(Mask)) Infer.ElementTypeIn(ctx, Mask, t => t == ElementType.Bool || t.IsFloat(), "bool or a float type");
            if (ctx.HasInput(NonPadLength)) Infer.ElementTypeIn(ctx, NonPadLength, t => t == ElementType.Int64, "int64");
            if (ctx.HasInput(PastKey) != ctx.HasInput(PastValue)) throw ctx.Error("past_key and past_value must be given together");
            AttentionOptions.Read(ctx.Op, qType, ctx.Error);

            var shapes = new[] { Q, K, V, PastKey, PastValue, Mask }.Where(ctx.HasInput).Select(ctx.InputShape);
            if (shapes.Any(s => !s.IsRanked))
            {
                SetOutputs(ctx, qType, vType, Shape.Unranked, Shape.Unranked, Shape.Unranked, Shape.Unranked);
                return;
            }
            var g = AttentionGeometry.Resolve(ctx.Op, ctx.InputShape(Q), ctx.InputShape(K), ctx.InputShape(V),
                ctx.HasInput(PastKey) ? ctx.InputShape(PastKey) : null, ctx.HasInput(PastValue) ? ctx.InputShape(PastValue) : null, ctx.Error);
            if (ctx.HasInput(Mask)) g.CheckMask(ctx.InputShape(Mask), ctx.Error);
            if (ctx.HasInput(NonPadLength) && ctx.InputShape(NonPadLength) is var n && (n.Rank != 1 || (n[0].IsKnown && g.Batch.IsKnown && n[0] != g.Batch)))
                throw ctx.Error($"nonpad_kv_seqlen must have shape [{g.Batch}], got {n}");

            var y = g.Packed ? Shape.Of(g.Batch, g.QLength, g.QHeads * g.VHeadSize) : Shape.Of(g.Batch, g.QHeads, g.QLength, g.VHeadSize);
            SetOutputs(ctx, qType, vType, y,
                Shape.Of(g.Batch, g.KvHeads, g.TotalLength, g.HeadSize),
                Shape.Of(g.Batch, g.KvHeads, g.TotalLength, g.VHeadSize),
                Shape.Of(g.Batch, g.QHeads, g.QLength, g.TotalLength));
        }

        private static void SetOutputs(InferenceContext ctx, ElementType qType, ElementType vType, Shape y, Shape presentKey, Shape presentValue, Shape scores)
        {
            ctx.SetOutput(0, qType, y);
            if (ctx.HasOutput(1)) ctx.SetOutput(1, qType, presentKey);
            if (ctx.HasOutput(2)) ctx.SetOutput(2, vType, presentValue);
            if (ctx.HasOutput(3)) ctx.SetOutput(3, qType, scores);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var q = FloatInput(ctx, Q);
            var k = FloatInput(ctx, K);
            var v = FloatInput(ctx, V);
            var pastKey = ctx.OptionalTensor(PastKey);
            var pastValue = ctx.OptionalTensor(PastValue);
            if ((pastKey is null) != (pastValue is null)) throw ctx.Error("past_key and past_value must be given together");
            if (k.ElementType != q.ElementType || (pastKey is not null && pastKey.ElementType != q.ElementType) || (pastValue is not null && pastValue.ElementType != v.ElementType))
                throw ctx.Error("K and past_key must have Q's element type, past_value V's");
            var options = AttentionOptions.Read(ctx.Op, q.ElementType, ctx.Error);
            var g = AttentionGeometry.Resolve(ctx.Op, Shape.Of(q.Shape), Shape.Of(k.Shape), Shape.Of(v.Shape),
                pastKey is null ? null : Shape.Of(pastKey.Shape), pastValue is null ? null : Shape.Of(pastValue.Shape), ctx.Error);
            var sizes = new AttentionSizes(g);

            var mask = ctx.OptionalTensor(Mask) is { } m ? AdditiveMask.Create(m, g, sizes, ctx.Error) : null;
            var keyLimits = ctx.OptionalTensor(NonPadLength) is { } lengths ? NonPadLengths(lengths, sizes, ctx) : null;

            var queries = sizes.HeadMajor(FloatBuffers.Read(q), g.Packed, sizes.QHeads, sizes.QLength, sizes.HeadSize);
            var keys = sizes.AppendToCache(pastKey, sizes.HeadMajor(FloatBuffers.Read(k), g.Packed, sizes.KvHeads, sizes.KvLength, sizes.HeadSize), sizes.HeadSize);
            var values = sizes.AppendToCache(pastValue, sizes.HeadMajor(FloatBuffers.Read(v), g.Packed, sizes.KvHeads, sizes.KvLength, sizes.VHeadSize), sizes.VHeadSize);

            var kernel = new AttentionKernel(sizes, options, mask, keyLimits, hasCache: pastKey is not null, queries, keys, values, ctx.HasOutput(3));
            var (y, scores) = kernel.Run();

            var yShape = g.Packed ? new[] { sizes.Batch, sizes.QLength, sizes.QHeads * sizes.VHeadSize } : [sizes.Batch, sizes.QHeads, sizes.QLength, sizes.VHeadSize];
            ctx.SetOutput(0, FloatBuffers.Write(q.ElementType, yShape, g.Packed ? sizes.Packed(y) : y));
            if (ctx.HasOutput(1)) ctx.SetOutput(1, FloatBuffers.Write(q.ElementType, [sizes.Batch, sizes.KvHeads, sizes.TotalLength, sizes.HeadSize], keys));
            if (ctx.HasOutput(2)) ctx.SetOutput(2, FloatBuffers.Write(v.ElementType, [sizes.Batch, sizes.KvHeads, sizes.TotalLength, sizes.VHeadSize], values));
            if (ctx.HasOutput(3)) ctx.SetOutput(3, FloatBuffers.Write(q.ElementType, [sizes.Batch, sizes.QHeads, sizes.QLength, sizes.TotalLength], scores!));
        }

        private static TensorData FloatInput(EvaluationContext ctx, int i)
        {
            var t = ctx.Tensor(i);
            return FloatBuffers.IsComputeType(t.ElementType) ? t
                : throw ctx.Error($"input {i} must be float, double, float16 or bfloat16, got {t.ElementType.OnnxName()}");
        }

        /// <summary>nonpad_kv_seqlen: how many leading keys of each batch entry are real (the rest is padding).</summary>
        private static long[] NonPadLengths(TensorData lengths, AttentionSizes sizes, EvaluationContext ctx)
        {
            if (lengths.Rank != 1 || lengths.Shape[0] != sizes.Batch)
                throw ctx.Error($"nonpad_kv_seqlen must have shape [{sizes.Batch}], got {TensorData.FormatShape(lengths.Shape)}");
            var result = lengths.ToInt64Array();
            foreach (long n in result)
                if (n < 0 || n > sizes.TotalLength)
                    throw ctx.Error($"nonpad_kv_seqlen value {n} is outside [0, {sizes.TotalLength}]");
            return result;
        }
    }

    /// <summary>Attributes that shape the computation.</summary>
    private sealed record AttentionOptions(double? Scale, bool IsCausal, double Softcap, int ScoresMode, ElementType SoftmaxPrecision)
    {
        public static AttentionOptions Read(Operation op, ElementType inputType, Func<string, KilnException> error)
        {
            // Sliding-window attention is newer than Attention-24 and not implemented: refuse it rather than ignore it.
            if (op.GetInt("local_window_size", -1) >= 0)
                throw new KilnException(ErrorCode.Unsupported, $"{op.Describe()}: local_window_size (sliding-window attention) is not supported");
            long mode = op.GetInt("qk_matmul_output_mode", 0);
            if (mode is < 0 or > 3) throw error($"qk_matmul_output_mode must be 0 to 3, got {mode}");
            float softcap = op.GetFloat("softcap", 0);
            if (!(softcap >= 0)) throw error($"softcap must be 0 (off) or positive, got {softcap}");
            var precision = FloatBuffers.TypeAttribute(op, "softmax_precision") ?? inputType;
            if (!FloatBuffers.IsComputeType(precision))
                throw error($"softmax_precision must be float, float16, bfloat16 or double, got {precision.OnnxName()}");
            double? scale = op.HasAttribute("scale") ? op.GetFloat("scale") : null;
            return new(scale, op.GetInt("is_causal", 0) != 0, softcap, (int)mode, precision);
        }
    }

    /// <summary>The additive mask broadcast to [batch, q_heads, q_length, mask_length]; keys past mask_length are masked out.</summary>
    private sealed class AdditiveMask
    {
        private readonly double[] _bias;
        private readonly long[] _strides;
        private readonly long _length;

        private AdditiveMask(double[] bias, long[] strides, long length) { _bias = bias; _strides = strides; _length = length; }

        public static AdditiveMask Create(TensorData mask, AttentionGeometry g, AttentionSizes sizes, Func<string, KilnException> error)
        {
            g.CheckMask(Shape.Of(mask.Shape), error);
            double[] bias = mask.ElementType == ElementType.Bool
                ? Array.ConvertAll(mask.Data<bool>(), keep => keep ? 0 : double.NegativeInfinity)
                : mask.ElementType.IsFloat() ? FloatBuffers.Read(mask)
                : throw error($"attn_mask must be bool or float, got {mask.ElementType.OnnxName()}");
            long length = mask.Shape[^1];
            long[] target = [sizes.Batch, sizes.QHeads, sizes.QLength, length];
            return new AdditiveMask(bias, Broadcasting.BroadcastStrides(mask.Shape, target), length);
        }

        public double At(long b, long h, long i, long j) =>
            j < _length ? _bias[b * _strides[0] + h * _strides[1] + i * _strides[2] + j * _strides[3]] : double.NegativeInfinity;
    }

    /// <summary>
    /// The attention loop: per batch entry, query head and query, the scores against every key
    /// (scaled dot products, softcapped, plus the bias of mask, causality and padding), their
    /// softmax, and the weighted sum of the values. A query whose keys are all masked out gets
    /// zero weights, not NaN. Keys are [batch·kv_heads, total, size]; results are head-major.
    /// </summary>
    private sealed class AttentionKernel
    {
        private readonly AttentionSizes _sizes;
        private readonly AttentionOptions _options;
        private readonly AdditiveMask? _mask;
        private readonly long[]? _keyLimits;
        private readonly bool _hasCache;
        private readonly double[] _queries, _keysByFeature, _values, _y;
        private readonly double[]? _scores;
        private readonly double[] _bias, _raw, _row;

        public AttentionKernel(AttentionSizes sizes, AttentionOptions options, AdditiveMask? mask, long[]? keyLimits, bool hasCache,
            double[] queries, double[] keys, double[] values, bool wantScores)
        {
            (_sizes, _options, _mask, _keyLimits, _hasCache) = (sizes, options, mask, keyLimits, hasCache);
            (_queries, _values) = (queries, values);
            _keysByFeature = AttentionMath.ByFeature(keys, sizes.Batch * sizes.KvHeads, sizes.TotalLength, sizes.HeadSize);
            _y = new double[sizes.Batch * sizes.QHeads * sizes.QLength * sizes.VHeadSize];
            _scores = wantScores ? new double[sizes.Batch * sizes.QHeads * sizes.QLength * sizes.TotalLength] : null;
            _bias = new double[sizes.TotalLength];
            _raw = new double[sizes.TotalLength];
            _row = new double[sizes.TotalLength];
        }

        public (double[] Y, double[]? Scores) Run()
        {
            for (long b = 0; b < _sizes.Batch; b++)
            for (long h = 0; h < _sizes.QHeads; h++)
            for (long i = 0; i < _sizes.QLength; i++)
                AttendQuery(b, h, i);
            return (_y, _scores);
        }

        private void AttendQuery(long b, long h, long i)
        {
            long total = _sizes.TotalLength, d = _sizes.HeadSize, dv = _sizes.VHeadSize;
            long kvHead = b * _sizes.KvHeads + h / (_sizes.QHeads / _sizes.KvHeads);
            long query = (b * _sizes.QHeads + h) * _sizes.QLength + i;
            double softcap = _options.Softcap;
            int mode = _options.ScoresMode;
            bool anyKeyVisible = FillBias(b, h, i);
            AttentionMath.Scores(_queries.AsSpan((int)(query * d), (int)d), _keysByFeature.AsSpan((int)(kvHead * d * total), (int)(d * total)),
                _options.Scale ?? 1 / Math.Sqrt(d), _raw);
            for (long j = 0; j < total; j++)
            {
                double s = _raw[j];
                double capped = softcap > 0 ? softcap * Math.Tanh(s / softcap) : s;
                _row[j] = capped + _bias[j];
                if (_scores is not null && mode < 3) _scores[query * total + j] = mode switch { 0 => s, 1 => capped, _ => _row[j] };
            }
            if (anyKeyVisible) AttentionMath.Softmax(_row, _options.SoftmaxPrecision);
            else Array.Clear(_row);
            if (_scores is not null && mode == 3) _row.CopyTo(_scores.AsSpan((int)(query * total)));
            var output = _y.AsSpan((int)(query * dv), (int)dv);
            for (long j = 0; j < total; j++)
                TensorPrimitives.MultiplyAdd(_values.AsSpan((int)((kvHead * total + j) * dv), (int)dv), _row[j], output, output);
        }

        /// <summary>The bias of every key for one query; returns whether any key is not masked out.</summary>
        private bool FillBias(long b, long h, long i)
        {
            // Causal masking is aligned to the end of the keys: the cache, or the keys before
            // this query block when nonpad_kv_seqlen gives the valid lengths, come first.
            long causalOffset = _hasCache ? _sizes.PastLength : _keyLimits is not null ? _keyLimits[b] - _sizes.QLength : 0;
            long visibleKeys = _keyLimits?[b] ?? _sizes.TotalLength;
            bool causal = _options.IsCausal, anyVisible = false;
            for (long j = 0; j < _bias.Length; j++)
            {
                double v = _mask?.At(b, h, i, j) ?? 0;
                if ((causal && j > i + causalOffset) || j >= visibleKeys) v = double.NegativeInfinity;
                _bias[j] = v;
                anyVisible |= v != double.NegativeInfinity;
            }
            return anyVisible;
        }
    }
}

/// <summary>Arithmetic shared by the attention operators.</summary>
internal static class AttentionMath
{
    /// <summary>Keys [heads, length, size] regrouped by feature as [heads, size, length], so that a query's scores are a weighted sum of rows.</summary>
    public static double[] ByFeature(double[] keys, long heads, long length, long size)
    {
        var result = new double[keys.Length];
        for (long h = 0; h < heads; h++)
        for (long j = 0; j < length; j++)
        for (long c = 0; c < size; c++)
            result[(h * size + c) * length + j] = keys[(h * length + j) * size + c];
        return result;
    }

    /// <summary>scores[j] = scale · Σc query[c]·key_j[c], for one head's keys grouped by feature (see <see cref="ByFeature"/>).</summary>
    public static void Scores(ReadOnlySpan<double> query, ReadOnlySpan<double> keysByFeature, double scale, Span<double> scores)
    {
        scores.Clear();
        for (int c = 0; c < query.Length; c++)
            TensorPrimitives.MultiplyAdd(keysByFeature.Slice(c * scores.Length, scores.Length), query[c], scores, scores);
        TensorPrimitives.Multiply(scores, scale, scores);
    }

    /// <summary>Softmax of a row in place, its inputs and results rounded to the softmax precision.</summary>
    public static void Softmax(Span<double> row, ElementType precision)
    {
        double max = double.NegativeInfinity;
        for (int j = 0; j < row.Length; j++)
        {
            row[j] = FloatBuffers.RoundTo(row[j], precision);
            max = Math.Max(max, row[j]);
        }
        double sum = 0;
        for (int j = 0; j < row.Length; j++) sum += row[j] = Math.Exp(row[j] - max);
        for (int j = 0; j < row.Length; j++) row[j] = FloatBuffers.RoundTo(row[j] / sum, precision);
    }
}

/// <summary>
/// The sizes of an Attention node, symbolic during inference: Q is [B, Hq, Sq, D] (or packed
/// [B, Sq, Hq*D] with q_num_heads), K [B, Hkv, Skv, D], V [B, Hkv, Skv, Dv], the cache
/// [B, Hkv, P, D|Dv]; keys total P + Skv.
/// </summary>
internal sealed record AttentionGeometry(bool Packed, Dim Batch, Dim QHeads, Dim KvHeads, Dim QLength, Dim KvLength, Dim PastLength, Dim HeadSize, Dim VHeadSize)
{
    public Dim TotalLength => PastLength + KvLength;

    public static AttentionGeometry Resolve(Operation op, Shape q, Shape k, Shape v, Shape? pastKey, Shape? pastValue, Func<string, KilnException> error)
    {
        if (q.Rank is not (3 or 4) || k.Rank != q.Rank || v.Rank != q.Rank)
            throw error($"Q, K and V must all be rank 3 or all rank 4, got {q}, {k} and {v}");
        bool packed = q.Rank == 3;
        Dim qHeads, kvHeads, headSize, keyHeadSize, vHeadSize;
        if (packed)
        {
            long qCount = op.GetInt("q_num_heads", 0), kvCount = op.GetInt("kv_num_heads", 0);
            if (qCount <= 0 || kvCount <= 0)
                throw error("packed (rank-3) Q, K, V need positive q_num_heads and kv_num_heads attributes");
            (qHeads, kvHeads) = (qCount, kvCount);
            headSize = DimChecks.SplitEvenly(q[2], qCount, "Q hidden size", error);
            keyHeadSize = DimChecks.SplitEvenly(k[2], kvCount, "K hidden size", error);
            vHeadSize = DimChecks.SplitEvenly(v[2], kvCount, "V hidden size", error);
        }
        else
        {
            (qHeads, kvHeads, headSize, keyHeadSize, vHeadSize) = (q[1], k[1], q[3], k[3], v[3]);
            DimChecks.ExpectEqual(v[1], kvHeads, "V heads", error);
            foreach (var (name, heads) in new[] { ("q_num_heads", qHeads), ("kv_num_heads", kvHeads) })
                if (op.HasAttribute(name)) DimChecks.ExpectEqual(op.GetInt(name), heads, name, error);
        }
        Dim batch = q[0], kvLength = k[packed ? 1 : 2];
        DimChecks.ExpectEqual(k[0], batch, "K batch", error);
        DimChecks.ExpectEqual(v[0], batch, "V batch", error);
        DimChecks.ExpectEqual(v[packed ? 1 : 2], kvLength, "V length", error);
        DimChecks.ExpectEqual(keyHeadSize, headSize, "K head size", error);
        if (qHeads.IsKnown && kvHeads.IsKnown && (kvHeads.Value <= 0 || qHeads.Value % kvHeads.Value != 0))
            throw error($"q heads ({qHeads}) must be a multiple of kv heads ({kvHeads})");

        Dim pastLength = 0;
        if (pastKey is not null && pastValue is not null)
        {
            if (pastKey.Rank != 4 || pastValue.Rank != 4) throw error($"past_key and past_value must be rank 4, got {pastKey} and {pastValue}");
            pastLength = pastKey[2];
            DimChecks.ExpectEqual(pastKey[0], batch, "past_key batch", error);
            DimChecks.ExpectEqual(pastKey[1], kvHeads, "past_key heads", error);
            DimChecks.ExpectEqual(pastKey[3], headSize, "past_key head size", error);
            DimChecks.ExpectEqual(pastValue[0], batch, "past_value batch", error);
            DimChecks.ExpectEqual(pastValue[1], kvHeads, "past_value heads", error);
            DimChecks.ExpectEqual(pastValue[2], pastLength, "past_value length", error);
            DimChecks.ExpectEqual(pastValue[3], vHeadSize, "past_value head size", error);
        }
        return new(packed, batch, qHeads, kvHeads, q[packed ? 1 : 2], kvLength, pastLength, headSize, vHeadSize);
    }

    /// <summary>
    /// attn_mask broadcasts to [B, Hq, Sq, n] with n at most the key count (missing keys are
    /// masked out).
    /// </summary>
    public void CheckMask(Shape mask, Func<string, KilnException> error)
    {
        if (mask.Rank is < 1 or > 4) throw error($"attn_mask must have rank 1 to 4, got {mask}");
        var last = mask[mask.Rank - 1];
        if (last.IsKnown && TotalLength.IsKnown && last.Value > TotalLength.Value)
            throw error($"attn_mask covers {last} keys, but there are only {TotalLength}");
        Dim[] leading = [Batch, QHeads, QLength];
        for (int i = 0; i < mask.Rank - 1; i++)
        {
            var d = mask[i];
            var target = leading[3 - (mask.Rank - 1) + i];
            if (d.IsKnown && target.IsKnown && d.Value != 1 && d.Value != target.Value)
                throw error($"attn_mask {mask} does not broadcast to [{Batch},{QHeads},{QLength},{TotalLength}]");
        }
    }
}

/// <summary>The concrete sizes of an Attention evaluation, with the layout conversions it needs.</summary>
internal sealed class AttentionSizes(AttentionGeometry g)
{
    public long Batch { get; } = g.Batch.Value;
    public long QHeads { get; } = g.QHeads.Value;
    public long KvHeads { get; } = g.KvHeads.Value;
    public long QLength { get; } = g.QLength.Value;
    public long KvLength { get; } = g.KvLength.Value;
    public long PastLength { get; } = g.PastLength.Value;
    public long TotalLength { get; } = g.TotalLength.Value;
    public long HeadSize { get; } = g.HeadSize.Value;
    public long VHeadSize { get; } = g.VHeadSize.Value;

    /// <summary>Q, K or V as [batch, heads, length, size]; packed [batch, length, heads*size] data is unpacked.</summary>
    public double[] HeadMajor(double[] data, bool packed, long heads, long length, long size)
    {
        if (!packed) return data;
        var result = new double[data.Length];
        for (long b = 0; b < Batch; b++)
        for (long s = 0; s < length; s++)
        for (long h = 0; h < heads; h++)
            Array.Copy(data, ((b * length + s) * heads + h) * size, result, ((b * heads + h) * length + s) * size, size);
        return result;
    }

    /// <summary>The output [batch, q_heads, q_length, size] packed as [batch, q_length, q_heads*size].</summary>
    public double[] Packed(double[] y)
    {
        var result = new double[y.Length];
        for (long b = 0; b < Batch; b++)
        for (long h = 0; h < QHeads; h++)
        for (long s = 0; s < QLength; s++)
            Array.Copy(y, ((b * QHeads + h) * QLength + s) * VHeadSize, result, ((b * QLength + s) * QHeads + h) * VHeadSize, VHeadSize);
        return result;
    }

    /// <summary>The cache extended with the new keys or values along the sequence axis: [batch, kv_heads, total, size].</summary>
    public double[] AppendToCache(TensorData? past, double[] current, long size)
    {
        if (past is null) return current;
        var cache = FloatBuffers.Read(past);
        var result = new double[Batch * KvHeads * TotalLength * size];
        for (long bh = 0; bh < Batch * KvHeads; bh++)
        {
            Array.Copy(cache, bh * PastLength * size, result, bh * TotalLength * size, PastLength * size);
            Array.Copy(current, bh * KvLength * size, result, (bh * TotalLength + PastLength) * size, KvLength * size);
        }
        return result;
    }
}
