using Kiln.Compiler.Passes.Decompositions;
using Kiln.Ir;
using Kiln.Ops;

namespace Kiln.Compiler.Passes;

/// <summary>
/// Replaces operators the compiled path has no kernel for by equivalent subgraphs of operators it
/// has (Attention into MatMul, Softmax and elementwise work; recurrent layers into Scan; ...), so
/// that later passes fold, fuse and lower the pieces like any other operations. One decomposition
/// per file in Passes/Decompositions, registered in <see cref="DecompositionRegistry"/>. Runs first,
/// on the graph and every nested graph; after each rewrite shape inference runs again, so a
/// decomposition always sees typed operands. Stateless; not thread-safe per graph.
/// </summary>
public static class Decompose
{
    public static bool Run(Graph graph, DecompositionRegistry? registry = null, OpRegistry? ops = null)
    {
        registry ??= DecompositionRegistry.Default;
        bool changed = false;
        while (Next(graph, registry) is var (owner, op, rewrite))
        {
            var builder = new DecompositionBuilder(owner, op);
            var results = rewrite(builder, op);
            builder.Finish(results);
            changed = true;
            Reinfer(graph, ops);
        }
        return changed;
    }

    private static (Graph, Operation, DecompositionRegistry.Rewrite)? Next(Graph graph, DecompositionRegistry registry)
    {
        foreach (var op in graph.Operations)
        {
            if (registry.TryGet(op, out var rewrite)) return (graph, op, rewrite);
            foreach (var nested in op.NestedGraphs)
                if (Next(nested, registry) is { } found) return found;
        }
        return null;
    }

    /// <summary>Shape inference again, with every type already known counting as declared (what the model stated is kept).</summary>
    internal static void Reinfer(Graph graph, OpRegistry? ops)
    {
        var declared = new Dictionary<Value, IrType>(ReferenceEqualityComparer.Instance);
        Collect(graph, declared);
        ShapeInference.Run(graph, declared, ops);
    }

    private static void Collect(Graph graph, Dictionary<Value, IrType> types)
    {
        foreach (var v in graph.Inputs) types[v] = v.Type;
        foreach (var op in graph.Operations)
        {
            foreach (var r in op.Outputs)
                if (r is not null && r.Type is not TensorType { ElementType: ElementType.Undefined }) types[r] = r.Type;
            foreach (var nested in op.NestedGraphs) Collect(nested, types);
        }
    }
}
