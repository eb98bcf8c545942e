using Kiln.Ir;

namespace Kiln.Compiler.Passes.Decompositions;

/// <summary>
/// The optimizer steps of ai.onnx.preview.training (Adagrad, Momentum, Adam) as elementwise
/// operators. Inputs are R, T, then n tensors X, their n gradients G and one or two groups of n
/// state tensors; results are the n new X, then the new state groups. Every formula is computed in
/// float64 and rounded once to each result's type, the way the reference evaluator does; the
/// choices that depend on T (the first update) are Where operators on T &gt; 0.
/// </summary>
public static class OptimizerDecomposition
{
    /// <summary>The operand groups of one tensor: its X, G and state values (cast to float64), and R and T.</summary>
    private sealed record Operands(Value R, Value T, Value First, Value X, Value G, Value[] State);

    private static Value Cast(DecompositionBuilder b, Value x, ElementType to) =>
        x.TensorType.ElementType == to ? x : b.Add("Cast", [x], DecompositionBuilder.Attrs(("to", AttributeValue.Int((long)to))));

    private static Value F(DecompositionBuilder b, double value) => b.Scalar(ElementType.Float64, value);

    /// <summary>
    /// Splits the operands into per-tensor groups and calls <paramref name="step"/> on each; it
    /// returns the new X and new state values in float64, which are cast back to the operands' types.
    /// </summary>
    private static Value?[] Apply(DecompositionBuilder b, Operation op, int stateGroups, Func<Operands, Value[]> step)
    {
        int groups = 2 + stateGroups;
        if (op.Inputs.Count < 2 + groups || (op.Inputs.Count - 2) % groups != 0)
            throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: {op.Inputs.Count} operands do not fit R, T and {groups} groups of tensors");
        int n = (op.Inputs.Count - 2) / groups;
        if (op.Outputs.Count != n * (1 + stateGroups))
            throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: {op.Outputs.Count} results, expected {n * (1 + stateGroups)}");
        var r = Cast(b, op.Input(0), ElementType.Float64);
        var t = op.Input(1);
        // T = 0 is the first update: Momentum takes beta as 1, Adam skips its bias correction.
        var first = b.Add("Not", [b.Add("Greater", [t, b.Scalar(ElementType.Int64, 0)])]);
        var tDouble = Cast(b, t, ElementType.Float64);
        var results = new Value?[op.Outputs.Count];
        for (int i = 0; i < n; i++)
        {
            var state = Enumerable.Range(0, stateGroups).Select(s => Cast(b, op.Input(2 + (2 + s) * n + i), ElementType.Float64)).ToArray();
            var x = Cast(b, op.Input(2 + i), ElementType.Float64);
            var g = Cast(b, op.Input(2 + n + i), ElementType.Float64);
            var updated = step(new Operands(r, tDouble, first, x, g, state));
            results[i] = Cast(b, updated[0], op.Input(2 + i).TensorType.ElementType);
            for (int s = 0; s < stateGroups; s++)
                results[(1 + s) * n + i] = Cast(b, updated[1 + s], op.Input(2 + (2 + s) * n + i).TensorType.ElementType);
        }
        return results;
    }

    /// <summary>g = G + norm_coefficient·X (norm_coefficient·X first, as the reference computes it).</summary>
    private static Value Regularized(DecompositionBuilder b, Operation op, Operands o, float? fallback) =>
        b.Add("Add", [b.Add("Mul", [F(b, fallback is { } f ? op.GetFloat("norm_coefficient", f) : op.GetFloat("norm_coefficient")), o.X]), o.G]);

    /// <summary>r = R / (1 + T·decay_factor); g = G + norm_coefficient·X; H' = H + g²; X' = X − r·g / (√H' + epsilon).</summary>
    public static Value?[] Adagrad(DecompositionBuilder b, Operation op) => Apply(b, op, 1, o =>
    {
        var rate = b.Add("Div", [o.R, b.Add("Add", [F(b, 1), b.Add("Mul", [o.T, F(b, op.GetFloat("decay_factor", 0))])])]);
        var g = Regularized(b, op, o, 0);
        var h = b.Add("Add", [o.State[0], b.Add("Mul", [g, g])]);
        var step = b.Add("Div", [b.Add("Mul", [rate, g]), b.Add("Add", [b.Add("Sqrt", [h]), F(b, op.GetFloat("epsilon", 1e-6f))])]);
        return [b.Add("Sub", [o.X, step]), h];
    });

    /// <summary>V' = alpha·V + beta'·g (beta' = 1 on the first update); standard X' = X − R·V', nesterov X' = X − R·(g + alpha·V').</summary>
    public static Value?[] Momentum(DecompositionBuilder b, Operation op) => Apply(b, op, 1, o =>
    {
        string mode = op.GetString("mode");
        if (mode is not ("standard" or "nesterov")) throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: unknown mode '{mode}'");
        var alpha = F(b, op.GetFloat("alpha"));
        var beta = b.Add("Where", [o.First, F(b, 1), F(b, op.GetFloat("beta"))]);
        var g = Regularized(b, op, o, null);
        var v = b.Add("Add", [b.Add("Mul", [alpha, o.State[0]]), b.Add("Mul", [beta, g])]);
        var direction = mode == "standard" ? v : b.Add("Add", [g, b.Add("Mul", [alpha, v])]);
        return [b.Add("Sub", [o.X, b.Add("Mul", [o.R, direction])]), v];
    });

    /// <summary>
    /// V' = alpha·V + (1 − alpha)·g; H' = beta·H + (1 − beta)·g²; r = R·√(1 − beta^T) / (1 − alpha^T)
    /// after the first update (else R); X' = (1 − norm_coefficient_post)·(X − r·V' / (√H' + epsilon)).
    /// </summary>
    public static Value?[] Adam(DecompositionBuilder b, Operation op) => Apply(b, op, 2, o =>
    {
        double alpha = op.GetFloat("alpha", 0.9f), beta = op.GetFloat("beta", 0.999f);
        var g = Regularized(b, op, o, 0);
        var v = b.Add("Add", [b.Add("Mul", [F(b, alpha), o.State[0]]), b.Add("Mul", [F(b, 1 - alpha), g])]);
        var h = b.Add("Add", [b.Add("Mul", [F(b, beta), o.State[1]]), b.Add("Mul", [b.Add("Mul", [F(b, 1 - beta), g]), g])]);
        var corrected = b.Add("Div", [
            b.Add("Mul", [o.R, b.Add("Sqrt", [b.Add("Sub", [F(b, 1), b.Add("Pow", [F(b, beta), o.T])])])]),
            b.Add("Sub", [F(b, 1), b.Add("Pow", [F(b, alpha), o.T])])]);
        var rate = b.Add("Where", [o.First, o.R, corrected]);
        var updated = b.Add("Sub", [o.X, b.Add("Div", [b.Add("Mul", [rate, v]), b.Add("Add", [b.Add("Sqrt", [h]), F(b, op.GetFloat("epsilon", 1e-6f))])])]);
        return [b.Add("Mul", [F(b, 1 - op.GetFloat("norm_coefficient_post", 0)), updated]), v, h];
    });
}
