using Kiln.Ir;
using Kiln.Ops;

namespace Kiln.Compiler.Passes;

/// <summary>
/// Evaluates, with the reference evaluator, every deterministic operation whose operands are all
/// constants, and replaces it by Constant operations holding its results (which then live in the
/// module's constant segments). Results larger than <see cref="MaxFoldedElements"/> are left to
/// run time, so folding cannot blow up a module (a ConstantOfShape of a huge shape).
/// </summary>
public static class ConstantFolding
{
    public const long MaxFoldedElements = 1 << 24;

    public static bool Run(Graph graph, OpRegistry? registry = null)
    {
        registry ??= OpRegistry.Default;
        var evaluator = new ReferenceEvaluator(registry);
        var constants = new Dictionary<Value, TensorData>(ReferenceEqualityComparer.Instance);
        bool changed = false;
        foreach (var op in graph.Operations.ToList())
        {
            if (op.OpType == "Constant" && op.Domain.Length == 0)
            {
                if (op.GetTensor("value") is { } v && op.HasOutput(0)) constants[op.Output(0)] = v;
                continue;
            }
            if (op.NestedGraphs.Any() || op.Inputs.Count == 0 || !registry.TryGet(op.Domain, op.OpType, out var def) || !def.IsDeterministic) continue;
            if (op.Inputs.Any(i => i is not null && !constants.ContainsKey(i))) continue;
            if (op.Outputs.Any(o => o is not null && (o.Type is not TensorType { Shape.IsStatic: true } t || t.Shape.ElementCount.Value > MaxFoldedElements))) continue;
            DataValue?[] results;
            try { results = evaluator.EvaluateOperation(op, op.Inputs.Select(i => i is null ? null : (DataValue)constants[i]).ToArray()); }
            catch (KilnException) { continue; } // let it fail at run time with real context
            if (results.Any(r => r is not null and not TensorData)) continue;
            int at = graph.IndexOf(op);
            for (int i = 0; i < op.Outputs.Count; i++)
            {
                if (op.Outputs[i] is not { } r || results[i] is not TensorData t) continue;
                // The constant takes over the result's name (graph outputs keep their names).
                string name = r.Name;
                graph.Rename(r, r.Name + "_unfolded");
                var c = graph.AddOperation("Constant", [], [name],
                    new Dictionary<string, AttributeValue> { ["value"] = AttributeValue.Tensor(t) }, outputTypes: [t.Type], insertAt: at++);
                graph.ReplaceAllUses(r, c.Output(0));
                constants[c.Output(0)] = t;
            }
            changed = true;
        }
        if (changed) DeadCodeElimination.Run(graph, registry);
        return changed;
    }
}
