using Kiln.Ir;

namespace Kiln.Compiler.Passes.Decompositions;

/// <summary>
/// Attention (opset 23/24) as MatMul, Softmax and elementwise work. Q, K, V are brought to
/// [batch, heads, length, size] (packed rank-3 inputs are split into heads), the cache is
/// concatenated in front of the new keys and values, the scores are Q·Kᵀ·scale (softcapped),
/// the bias of attn_mask, causality and nonpad_kv_seqlen is added, and the softmax weights the
/// values. Grouped-query heads are handled by folding each group of query heads into the query
/// length (a reshape), so K and V are never copied per head. Sizes are read with Shape at run
/// time where they may be symbolic; with static shapes that all folds to constants. Half-precision
/// inputs are computed in float32 and rounded once at the end, as the reference evaluator does,
/// except the softmax, which runs in softmax_precision. A query whose keys are all masked out gets
/// zero weights (not the NaN a plain softmax of -inf gives).
/// </summary>
public static class AttentionDecomposition
{
    private const int Q = 0, K = 1, V = 2, Mask = 3, PastKey = 4, PastValue = 5, NonPadLength = 6;

    public static Value?[] Rewrite(DecompositionBuilder b, Operation op)
    {
        var q = op.Input(Q);
        var k = op.Input(K);
        var v = op.Input(V);
        var mask = op.OptionalInput(Mask);
        var pastKey = op.OptionalInput(PastKey);
        var pastValue = op.OptionalInput(PastValue);
        var nonPad = op.OptionalInput(NonPadLength);
        if (op.GetInt("local_window_size", -1) >= 0)
            throw Unsupported(op, "local_window_size (sliding-window attention) is not supported");
        if (!q.TensorType.Shape.IsRanked || !k.TensorType.Shape.IsRanked || !v.TensorType.Shape.IsRanked)
            throw Unsupported(op, "Q, K and V need a known rank");
        if ((pastKey is null) != (pastValue is null))
            throw Unsupported(op, "past_key and past_value must be given together");

        bool packed = q.TensorType.Shape.Rank == 3;
        var (qHeads, kvHeads) = HeadCounts(op, q, k, packed);
        long group = qHeads == kvHeads ? 1 : qHeads.Value / kvHeads.Value;

        ElementType qType = q.TensorType.ElementType, vType = v.TensorType.ElementType;
        ElementType compute = qType == ElementType.Float64 || vType == ElementType.Float64 ? ElementType.Float64 : ElementType.Float32;
        ElementType precision = op.HasAttribute("softmax_precision") ? (ElementType)op.GetInt("softmax_precision") : qType;

        // [batch, heads, length, size]; the present cache is the past followed by the new keys/values.
        var q4 = packed ? SplitHeads(b, q, qHeads.Value) : q;
        var k4 = packed ? SplitHeads(b, k, kvHeads.Value) : k;
        var v4 = packed ? SplitHeads(b, v, kvHeads.Value) : v;
        var presentKey = pastKey is null ? k4 : b.Add("Concat", [pastKey, k4], DecompositionBuilder.Attrs(("axis", AttributeValue.Int(2))));
        var presentValue = pastValue is null ? v4 : b.Add("Concat", [pastValue, v4], DecompositionBuilder.Attrs(("axis", AttributeValue.Int(2))));

        var qc = Cast(b, q4, qType, compute);
        var kc = Cast(b, presentKey, qType, compute);
        var vc = Cast(b, presentValue, vType, compute);

        // Raw scores [batch, q_heads, q_length, total]; a group of query heads shares one key head.
        var keysT = b.Add("Transpose", [kc], DecompositionBuilder.Attrs(("perm", AttributeValue.Ints(0, 1, 3, 2))));
        var product = group == 1 ? b.Add("MatMul", [qc, keysT])
            : Ungroup(b, b.Add("MatMul", [Group(b, qc, kvHeads.Value), keysT]), qHeads.Value);
        var scores = b.Add("Mul", [product, ScaleOf(b, op, q4, compute)]);

        float softcap = op.GetFloat("softcap", 0);
        var capped = scores;
        if (softcap > 0)
        {
            var cap = b.Scalar(compute, softcap);
            capped = b.Add("Mul", [b.Add("Tanh", [b.Add("Div", [scores, cap])]), cap]);
        }

        var bias = Bias(b, op, mask, nonPad, pastKey, q4, presentKey, compute);
        var row = bias is null ? capped : b.Add("Add", [capped, bias]);

        var weights = precision == compute ? Softmax(b, row)
            : Cast(b, Softmax(b, Cast(b, row, compute, precision)), precision, compute);
        if (bias is not null)
        {
            // Rows whose keys are all masked out: zero weights instead of NaN.
            var rowMax = b.Add("ReduceMax", [bias, b.Int64s(-1)], DecompositionBuilder.Attrs(("keepdims", AttributeValue.Int(1))));
            var allMasked = b.Add("Equal", [rowMax, b.Scalar(compute, double.NegativeInfinity)]);
            weights = b.Add("Where", [allMasked, b.Scalar(compute, 0), weights]);
        }

        var y = group == 1 ? b.Add("MatMul", [weights, vc])
            : Ungroup(b, b.Add("MatMul", [Group(b, weights, kvHeads.Value), vc]), qHeads.Value);
        y = Cast(b, y, compute, qType);
        if (packed)
            y = b.Add("Reshape", [b.Add("Transpose", [y], DecompositionBuilder.Attrs(("perm", AttributeValue.Ints(0, 2, 1, 3)))), b.Int64s(0, 0, -1)]);

        Value? scoresOut = null;
        if (op.HasOutput(3))
        {
            long mode = op.GetInt("qk_matmul_output_mode", 0);
            var chosen = mode switch
            {
                0 => scores,
                1 => capped,
                2 => row,
                3 => weights,
                _ => throw Unsupported(op, $"qk_matmul_output_mode must be 0 to 3, got {mode}"),
            };
            scoresOut = Cast(b, chosen, compute, qType);
        }
        Value?[] results = [y, op.HasOutput(1) ? presentKey : null, op.HasOutput(2) ? presentValue : null, scoresOut];
        return results[..op.Outputs.Count];
    }

    /// <summary>Query and key/value head counts; they must be known when they differ (grouped-query attention reshapes by them).</summary>
    private static (Dim QHeads, Dim KvHeads) HeadCounts(Operation op, Value q, Value k, bool packed)
    {
        if (packed)
        {
            long qHeads = op.GetInt("q_num_heads", 0), kvHeads = op.GetInt("kv_num_heads", 0);
            if (qHeads <= 0 || kvHeads <= 0)
                throw Unsupported(op, "packed (rank-3) Q, K, V need positive q_num_heads and kv_num_heads attributes");
            if (qHeads % kvHeads != 0) throw Unsupported(op, $"q_num_heads ({qHeads}) must be a multiple of kv_num_heads ({kvHeads})");
            return (qHeads, kvHeads);
        }
        Dim qh = q.TensorType.Shape[1], kvh = k.TensorType.Shape[1];
        if (qh == kvh) return (qh, kvh);
        if (!qh.IsKnown || !kvh.IsKnown)
            throw Unsupported(op, $"grouped-query heads need static head counts, got {qh} and {kvh}");
        if (kvh.Value <= 0 || qh.Value % kvh.Value != 0)
            throw Unsupported(op, $"q heads ({qh}) must be a multiple of kv heads ({kvh})");
        return (qh, kvh);
    }

    /// <summary>[batch, length, heads·size] → [batch, heads, length, size].</summary>
    private static Value SplitHeads(DecompositionBuilder b, Value x, long heads) =>
        b.Add("Transpose", [b.Add("Reshape", [x, b.Int64s(0, 0, heads, -1)])], DecompositionBuilder.Attrs(("perm", AttributeValue.Ints(0, 2, 1, 3))));

    /// <summary>[batch, q_heads, n, m] → [batch, kv_heads, group·n, m]: the query heads sharing a key head stacked along the rows.</summary>
    private static Value Group(DecompositionBuilder b, Value x, long kvHeads) => b.Add("Reshape", [x, b.Int64s(0, kvHeads, -1, 0)]);

    /// <summary>The inverse of <see cref="Group"/>.</summary>
    private static Value Ungroup(DecompositionBuilder b, Value x, long qHeads) => b.Add("Reshape", [x, b.Int64s(0, qHeads, -1, 0)]);

    /// <summary>The scale attribute, or 1/√head_size (read at run time when the head size is symbolic).</summary>
    private static Value ScaleOf(DecompositionBuilder b, Operation op, Value q4, ElementType compute)
    {
        if (op.HasAttribute("scale")) return b.Scalar(compute, op.GetFloat("scale"));
        var headSize = q4.TensorType.Shape.IsRanked ? q4.TensorType.Shape[3] : Dim.Unknown();
        if (headSize.IsKnown) return b.Scalar(compute, 1 / Math.Sqrt(headSize.Value));
        var size = Cast(b, ShapeSlice(b, q4, 3), ElementType.Int64, compute);
        return b.Add("Reciprocal", [b.Add("Sqrt", [size])]);
    }

    /// <summary>
    /// The additive bias broadcasting to [batch, q_heads, q_length, total], or null when nothing is
    /// masked: attn_mask (bool: 0 or -inf; float: as given, -inf past its last key), then -inf
    /// wherever causality or nonpad_kv_seqlen hides a key.
    /// </summary>
    private static Value? Bias(DecompositionBuilder b, Operation op, Value? mask, Value? nonPad, Value? pastKey, Value q4, Value presentKey, ElementType compute)
    {
        var negInf = b.Scalar(compute, double.NegativeInfinity);
        Value? bias = null;
        if (mask is not null)
        {
            var maskType = mask.TensorType;
            if (!maskType.Shape.IsRanked || maskType.Shape.Rank is < 1 or > 4)
                throw Unsupported(op, "attn_mask must have a known rank of 1 to 4");
            bias = maskType.ElementType == ElementType.Bool
                ? b.Add("Where", [mask, b.Scalar(compute, 0), negInf])
                : Cast(b, mask, maskType.ElementType, compute);
            var maskKeys = maskType.Shape[maskType.Shape.Rank - 1];
            var totalKeys = presentKey.TensorType.Shape.IsRanked ? presentKey.TensorType.Shape[2] : Dim.Unknown();
            if (!(maskKeys == totalKeys && !maskKeys.IsUnknown))
            {
                // A mask shorter than the keys leaves the keys past its end masked out.
                int rank = maskType.Shape.Rank;
                var missing = b.Add("Sub", [ShapeSlice(b, presentKey, 2), ShapeSlice(b, mask, rank - 1)]);
                var pads = b.Add("Concat", [b.Int64s(new long[2 * rank - 1]), missing], DecompositionBuilder.Attrs(("axis", AttributeValue.Int(0))));
                bias = b.Add("Pad", [bias, pads, negInf]);
            }
        }

        bool causal = op.GetInt("is_causal", 0) != 0;
        if (!causal && nonPad is null) return bias;

        var queryLength = ShapeSlice(b, q4, 2);
        var keyIndex = Positions(b, ShapeSlice(b, presentKey, 2));                                                // [total]
        var nonPad4 = nonPad is null ? null : b.Add("Unsqueeze", [nonPad, b.Int64s(1, 2, 3)]);                    // [batch,1,1,1]
        Value? hidden = null;
        if (causal)
        {
            // Query i sees keys up to i + offset: the cache comes first, or, with valid lengths, the keys before this block.
            var queryIndex = b.Add("Unsqueeze", [Positions(b, queryLength), b.Int64s(1)]); // [q_length,1]
            Value? offset = pastKey is not null ? ShapeSlice(b, pastKey, 2)
                : nonPad4 is not null ? b.Add("Sub", [nonPad4, queryLength])
                : null;
            var lastVisible = offset is null ? queryIndex : b.Add("Add", [queryIndex, offset]);
            hidden = b.Add("Less", [lastVisible, keyIndex]);
        }
        if (nonPad4 is not null)
        {
            var padding = b.Add("GreaterOrEqual", [keyIndex, nonPad4]);                                               // [batch,1,1,total]
            hidden = hidden is null ? padding : b.Add("Or", [hidden, padding]);
        }
        return b.Add("Where", [hidden!, negInf, bias ?? b.Scalar(compute, 0)]);
    }

    private static Value Softmax(DecompositionBuilder b, Value x) =>
        b.Add("Softmax", [x], DecompositionBuilder.Attrs(("axis", AttributeValue.Int(-1))));

    private static Value Cast(DecompositionBuilder b, Value x, ElementType from, ElementType to) =>
        from == to ? x : b.Add("Cast", [x], DecompositionBuilder.Attrs(("to", AttributeValue.Int((long)to))));

    /// <summary>One dimension of <paramref name="x"/> as a one-element int64 vector.</summary>
    private static Value ShapeSlice(DecompositionBuilder b, Value x, int axis) =>
        b.Add("Shape", [x], DecompositionBuilder.Attrs(("start", AttributeValue.Int(axis)), ("end", AttributeValue.Int(axis + 1))));

    /// <summary>
    /// 0, 1, …, n-1 for a one-element length vector: an exclusive running sum of ones rather than
    /// Range, whose length the compiled path cannot take from run-time values (this keeps the
    /// length symbolic; with static shapes it folds to a constant).
    /// </summary>
    private static Value Positions(DecompositionBuilder b, Value length) =>
        b.Add("CumSum", [b.Add("ConstantOfShape", [length], DecompositionBuilder.Attrs(("value", AttributeValue.Tensor(TensorData.Vector(1L))))),
            b.Constant(TensorData.Scalar(ElementType.Int64, 0L))], DecompositionBuilder.Attrs(("exclusive", AttributeValue.Int(1))));

    private static KilnException Unsupported(Operation op, string message) =>
        new(ErrorCode.UnsupportedOperator, $"{op.Describe()}: cannot decompose Attention: {message}");
}
