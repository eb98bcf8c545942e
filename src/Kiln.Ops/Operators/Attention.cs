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
