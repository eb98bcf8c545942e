using Kiln.Ir;
using Kiln.Ops;

namespace Kiln.Compiler.Passes;

/// <summary>
/// Replaces by Constant operations (whose values then live in the module's constant segments):
/// every result shape inference knows at compile time (shape arithmetic on static shapes: Shape,
/// Gather, Concat, ... of sizes known in advance), and every deterministic operation whose operands
/// are all constants, evaluated with the reference evaluator. Results larger than
/// <see cref="MaxFoldedElements"/> are left to run time, so folding cannot blow up a module.
/// </summary>
public static class ConstantFolding
{
    public const long MaxFoldedElements = 1 << 24;

    /// <summary>Shape and Size of a tensor whose shape is static: known from its type alone, whatever its data.</summary>
    private static TensorData? ShapeOfStaticTensor(Operation op)
    {
        if (op.Domain.Length != 0 || op.OpType is not ("Shape" or "Size") || op.Inputs[0]?.Type is not TensorType { Shape.IsStatic: true } t) return null;
        var dims = t.Shape.Dims.Select(d => d.Value).ToArray();
        if (op.OpType == "Size") return TensorData.Scalar(ElementType.Int64, dims.Aggregate(1L, (a, b) => a * b));
        long rank = dims.Length, start = op.GetInt("start", 0), end = op.GetInt("end", rank);
        start = Math.Clamp(start < 0 ? start + rank : start, 0, rank);
        end = Math.Clamp(end < 0 ? end + rank : end, start, rank);
        return TensorData.Vector(dims[(int)start..(int)end]);
    }

    private static void CollectTypes(Graph graph, Dictionary<Value, IrType> types)
    {
        foreach (var v in graph.Inputs) types[v] = v.Type;
        foreach (var op in graph.Operations)
        {
            foreach (var r in op.Outputs) if (r is not null) types[r] = r.Type;
            foreach (var nested in op.NestedGraphs) CollectTypes(nested, types);
        }
    }

    private static TensorData? CastLikeOfConstant(Operation op, Dictionary<Value, TensorData> constants) =>
        op.OpType == "CastLike" && op.Domain.Length == 0 && op.Inputs.Count == 2 && op.Inputs[0] is { } v && constants.TryGetValue(v, out var c)
            && op.Inputs[1]?.Type is TensorType { ElementType: not ElementType.Undefined and not ElementType.String } ? c : null;

    public static bool Run(Graph graph, OpRegistry? registry = null)
    {
        registry ??= OpRegistry.Default;
        var evaluator = new ReferenceEvaluator(registry);
        // Inference runs again (it knows more once earlier passes ran); the types values have now
        // count as declared, so what the model (or its builder) stated is never lost.
        var declared = new Dictionary<Value, IrType>(ReferenceEqualityComparer.Instance);
        CollectTypes(graph, declared);
        var inference = new ShapeInference(registry, declared);
        inference.InferGraph(graph);
        var constants = new Dictionary<Value, TensorData>(ReferenceEqualityComparer.Instance);
        bool changed = false;
        foreach (var op in graph.Operations.ToList())
        {
            if (op.OpType == "Constant" && op.Domain.Length == 0)
            {
                if (op.GetTensor("value") is { } v && op.HasOutput(0)) constants[op.Output(0)] = v;
                continue;
            }
            // Results known to shape inference (every result of the operation, or it stays).
            if (registry.TryGet(op.Domain, op.OpType, out var known) && known.IsDeterministic && op.Outputs.Count > 0
                && op.Outputs.All(o => o is null || inference.KnownValue(o) is not null))
            {
                Replace(graph, op, op.Outputs.Select(o => o is null ? null : inference.KnownValue(o)).ToArray(), constants);
                changed = true;
                continue;
            }
            if (op.NestedGraphs.Any() || op.Inputs.Count == 0 || !registry.TryGet(op.Domain, op.OpType, out var def) || !def.IsDeterministic) continue;
            DataValue?[] results;
            if (ShapeOfStaticTensor(op) is { } shape) results = [shape];
            else if (CastLikeOfConstant(op, constants) is { } cast)
            {
                // CastLike reads only its target's element type: a constant cast folds whatever the target holds.
                try { results = evaluator.EvaluateOperation(op, [cast, TensorData.Zeros(op.Input(1).TensorType.ElementType)]); }
                catch (KilnException) { continue; }
            }
            else
            {
                if (op.Inputs.Any(i => i is not null && !constants.ContainsKey(i))) continue;
                if (op.Outputs.Any(o => o is not null && (o.Type is not TensorType { Shape.IsStatic: true } t || t.Shape.ElementCount.Value > MaxFoldedElements))) continue;
                try { results = evaluator.EvaluateOperation(op, op.Inputs.Select(i => i is null ? null : (DataValue)constants[i]).ToArray()); }
                catch (KilnException) { continue; } // let it fail at run time with real context
            }
            if (results.Any(r => r is not null and not TensorData)) continue;
            Replace(graph, op, results.Select(r => r as TensorData).ToArray(), constants);
            changed = true;
        }
        if (changed) DeadCodeElimination.Run(graph, registry);
        return changed;
    }

    /// <summary>Puts a Constant for each result before the operation; each takes over its result's name (graph outputs keep theirs).</summary>
    private static void Replace(Graph graph, Operation op, TensorData?[] values, Dictionary<Value, TensorData> constants)
    {
        int at = graph.IndexOf(op);
        for (int i = 0; i < op.Outputs.Count; i++)
        {
            if (op.Outputs[i] is not { } r || values[i] is not { } t) continue;
            string name = r.Name;
            graph.Rename(r, r.Name + "_unfolded");
            var c = graph.AddOperation("Constant", [], [name],
                new Dictionary<string, AttributeValue> { ["value"] = AttributeValue.Tensor(t) }, outputTypes: [t.Type], insertAt: at++);
            graph.ReplaceAllUses(r, c.Output(0));
            constants[c.Output(0)] = t;
        }
    }
}
