using Kiln.Ir;

namespace Kiln.Compiler.Passes.Decompositions;

/// <summary>
/// ai.onnx.preview.FlexAttention as MatMul and Softmax, with its customization graphs inlined:
/// scores = Q·Kᵀ·scale (rounded to the input type, as the operator's definition computes them in
/// that type), then score_mod, the softmax, prob_mod and the product with V in the softmax
/// precision (float32 for 16-bit inputs), the result rounded back to the input type. Grouped-query
/// heads fold into the query length by a reshape, as in <see cref="AttentionDecomposition"/>.
/// </summary>
public static class FlexAttentionDecomposition
{
    public static Value?[] Rewrite(DecompositionBuilder b, Operation op)
    {
        Value q = op.Input(0), k = op.Input(1), v = op.Input(2);
        Shape qs = q.TensorType.Shape, ks = k.TensorType.Shape;
        if (!qs.IsRanked || !ks.IsRanked || qs.Rank != 4 || ks.Rank != 4)
            throw Unsupported(op, "Q, K and V must be rank 4");

        Dim qHeads = qs[1], kvHeads = ks[1];
        long group = 1;
        if (qHeads != kvHeads)
        {
            if (!qHeads.IsKnown || !kvHeads.IsKnown || kvHeads.Value <= 0 || qHeads.Value % kvHeads.Value != 0)
                throw Unsupported(op, $"grouped-query heads need static head counts with Q heads a multiple of K/V heads, got {qHeads} and {kvHeads}");
            group = qHeads.Value / kvHeads.Value;
        }

        var type = q.TensorType.ElementType;
        bool half = type is ElementType.Float16 or ElementType.BFloat16;
        var compute = half ? ElementType.Float32 : type;
        var precision = op.HasAttribute("softmax_precision") ? (ElementType)op.GetInt("softmax_precision") : compute;

        var keysT = b.Add("Transpose", [Cast(b, k, type, compute)], DecompositionBuilder.Attrs(("perm", AttributeValue.Ints(0, 1, 3, 2))));
        var qc = Cast(b, q, type, compute);
        var product = group == 1 ? b.Add("MatMul", [qc, keysT])
            : Reshape(b, b.Add("MatMul", [Reshape(b, qc, kvHeads.Value), keysT]), qHeads.Value);
        var scale = op.HasAttribute("scale") ? op.GetFloat("scale")
            : qs[3].IsKnown ? 1 / Math.Sqrt(qs[3].Value)
            : throw Unsupported(op, $"the default scale needs a static head size, got {qs[3]}");
        var scores = b.Add("Mul", [product, b.Scalar(compute, scale)]);
        // Rounded to the input type first, then widened to the softmax precision.
        scores = Cast(b, Cast(b, scores, compute, type), type, precision);

        scores = Inline(b, op, "score_mod", scores);
        var probs = Inline(b, op, "prob_mod", b.Add("Softmax", [scores], DecompositionBuilder.Attrs(("axis", AttributeValue.Int(-1)))));

        var vp = Cast(b, v, type, precision);
        var y = group == 1 ? b.Add("MatMul", [probs, vp])
            : Reshape(b, b.Add("MatMul", [Reshape(b, probs, kvHeads.Value), vp]), qHeads.Value);
        return [Cast(b, y, precision, type)];
    }

    /// <summary>
    /// The operations of a customization graph copied in front of the node, its input bound to
    /// <paramref name="input"/>; values it captures from enclosing graphs are used as they are.
    /// Returns <paramref name="input"/> when the attribute is absent.
    /// </summary>
    private static Value Inline(DecompositionBuilder b, Operation op, string name, Value input)
    {
        if (!op.HasAttribute(name)) return input;
        var graph = op.GetGraph(name);
        if (graph.Inputs.Count != 1 || graph.Outputs.Count != 1)
            throw Unsupported(op, $"{name} must take one tensor and return one");
        var map = new Dictionary<Value, Value>(ReferenceEqualityComparer.Instance) { [graph.Inputs[0]] = input };
        foreach (var inner in graph.Operations)
        {
            if (inner.NestedGraphs.Any())
                throw Unsupported(op, $"{name} has {inner.Describe()} with a graph of its own, which cannot be inlined");
            var inputs = inner.Inputs.Select(x => x is null ? null : map.GetValueOrDefault(x, x)).ToArray();
            var results = b.AddMany(inner.OpType, inputs, inner.Outputs.Count, new Dictionary<string, AttributeValue>(inner.Attributes), inner.Domain);
            for (int i = 0; i < results.Length; i++)
                if (inner.Outputs[i] is { } result) map[result] = results[i];
        }
        return map.GetValueOrDefault(graph.Outputs[0], graph.Outputs[0]);
    }

    /// <summary>[batch, heads, n, m] → [batch, heads', -1, m]: grouping query heads by their key head, or ungrouping.</summary>
    private static Value Reshape(DecompositionBuilder b, Value x, long heads) => b.Add("Reshape", [x, b.Int64s(0, heads, -1, 0)]);

    private static Value Cast(DecompositionBuilder b, Value x, ElementType from, ElementType to) =>
        from == to ? x : b.Add("Cast", [x], DecompositionBuilder.Attrs(("to", AttributeValue.Int((long)to))));

    private static KilnException Unsupported(Operation op, string message) =>
        new(ErrorCode.UnsupportedOperator, $"{op.Describe()}: cannot decompose FlexAttention: {message}");
}
