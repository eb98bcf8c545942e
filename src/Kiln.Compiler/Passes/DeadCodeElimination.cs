using Kiln.Ir;
using Kiln.Ops;

namespace Kiln.Compiler.Passes;

/// <summary>Removes operations none of whose results are used (deterministic ones only; nested graphs included).</summary>
public static class DeadCodeElimination
{
    public static bool Run(Graph graph, OpRegistry? registry = null)
    {
        registry ??= OpRegistry.Default;
        bool changed = false;
        bool again = true;
        while (again)
        {
            again = false;
            var uses = graph.CountUses();
            foreach (var op in graph.Operations.Reverse().ToList())
            {
                bool used = op.Outputs.Any(o => o is not null && uses.GetValueOrDefault(o) > 0);
                if (used) continue;
                if (registry.TryGet(op.Domain, op.OpType, out var def) && !def.IsDeterministic) continue;
                graph.Remove(op);
                again = changed = true;
            }
        }
        foreach (var op in graph.Operations)
            foreach (var g in op.NestedGraphs) changed |= Run(g, registry);
        return changed;
    }
}
