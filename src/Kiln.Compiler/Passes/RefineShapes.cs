using Kiln.Compiler.Lowering.Elementwise;
using Kiln.Ir;

namespace Kiln.Compiler.Passes;

/// <summary>
/// Gives a Range over operands known only at run time the length the sizes after it imply. An
/// expanded window is such a Range (over its size operand) followed by elementwise math into a
/// declared result: walking back through elementwise operators, an operand's unknown size along
/// an axis is taken to be the result's there (broadcasting leaves it no other value when the other
/// operands lack the axis or have size 1; when they are unknown too, equal sizes are assumed).
/// Only Range results are given such lengths — the "range" kernel checks at run time that its
/// operands give them, so a wrong assumption is refused, never trusted — and inference then runs
/// again so the sizes after them follow. Stateless.
/// </summary>
public static class RefineShapes
{
    public static bool Run(Graph graph)
    {
        var sizes = new Dictionary<Value, Dim[]>(ReferenceEqualityComparer.Instance);
        Dim[]? Sizes(Value v) => sizes.TryGetValue(v, out var d) ? d : v.Type is TensorType { Shape.IsRanked: true } t ? t.Shape.Dims.ToArray() : null;

        foreach (var op in graph.Operations.Reverse())
        {
            if (op.Domain.Length != 0 || !ElementwiseEmitters.All.ContainsKey(op.OpType) || !op.HasOutput(0)) continue;
            if (Sizes(op.Output(0)) is not { } result) continue;
            for (int i = 0; i < op.Inputs.Count; i++)
            {
                if (op.Inputs[i] is not { } v || ElementwiseEmitters.IsTypeOnly(op.OpType, i) || Sizes(v) is not { } dims || dims.Length > result.Length) continue;
                bool changed = false;
                for (int j = 0; j < dims.Length; j++)
                {
                    int axis = j + result.Length - dims.Length;
                    if (!IsOpen(dims[j]) || IsOpen(result[axis]) || !OthersAllow(op, i, axis, result.Length, Sizes)) continue;
                    dims[j] = result[axis];
                    changed = true;
                }
                if (changed) sizes[v] = dims;
            }
        }

        bool refined = false;
        foreach (var op in graph.Operations)
        {
            if (op.Domain.Length != 0 || op.OpType != "Range" || !op.HasOutput(0) || op.Output(0).Type is not TensorType { Shape: { IsRanked: true, Rank: 1 } shape } t) continue;
            if (!IsOpen(shape[0]) || !sizes.TryGetValue(op.Output(0), out var length) || IsOpen(length[0])) continue;
            op.Output(0).Type = new TensorType(t.ElementType, Shape.Of(length[0]));
            refined = true;
        }
        if (refined) Decompose.Reinfer(graph, null);
        return refined;
    }

    /// <summary>True for a size inference could not tell: unknown, or computed from an unknown (max(?, ?) after broadcasting).</summary>
    private static bool IsOpen(Dim d) => d.Expression is { } e && HasUnknown(e);

    private static bool HasUnknown(DimExpr e) => e switch
    {
        DimExpr.Unknown => true,
        DimExpr.Bin b => HasUnknown(b.Left) || HasUnknown(b.Right),
        _ => false,
    };

    /// <summary>
    /// True unless another operand could set the result's size along <paramref name="axis"/> by
    /// itself: one with a known size there other than 1 (the unknown one could then be 1).
    /// </summary>
    private static bool OthersAllow(Operation op, int input, int axis, int rank, Func<Value, Dim[]?> sizes)
    {
        for (int k = 0; k < op.Inputs.Count; k++)
        {
            if (k == input || op.Inputs[k] is not { } other || ElementwiseEmitters.IsTypeOnly(op.OpType, k)) continue;
            if (sizes(other) is not { } dims) return false;
            int j = axis - (rank - dims.Length);
            if (j >= 0 && !IsOpen(dims[j]) && !(dims[j].IsKnown && dims[j].Value == 1)) return false;
        }
        return true;
    }
}
