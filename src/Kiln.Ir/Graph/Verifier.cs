namespace Kiln.Ir;

/// <summary>
/// Checks the structural rules of the IR: every operand is defined before it is used (in its
/// graph or an enclosing one), each value is defined once, names are unique across the model,
/// back-links (producer, owner, parent) are consistent, graph outputs are defined. Operator-level
/// rules (arity, attributes, types) are checked by the operator definitions in Kiln.Ops.
/// Throws <see cref="KilnException"/> (<see cref="ErrorCode.InvalidIr"/>) naming the first problem.
/// </summary>
public static class Verifier
{
    public static void Verify(Model model) => Verify(model.Graph);

    public static void Verify(Graph graph)
    {
        var names = new Dictionary<string, Value>(StringComparer.Ordinal);
        var visible = new HashSet<Value>(ReferenceEqualityComparer.Instance);
        VerifyGraph(graph, names, visible);
    }

    private static void VerifyGraph(Graph g, Dictionary<string, Value> names, HashSet<Value> visible)
    {
        var definedHere = new List<Value>();
        void Define(Value v, Operation? producer, int index)
        {
            if (!ReferenceEquals(v.Producer, producer) || v.Index != index || !ReferenceEquals(v.Owner, g))
                throw Fail(g, $"value %{v.Name} has inconsistent producer or owner links");
            if (names.TryGetValue(v.Name, out var other) && !ReferenceEquals(other, v))
                throw Fail(g, $"name %{v.Name} is used by two values");
            if (!visible.Add(v)) throw Fail(g, $"value %{v.Name} is defined twice");
            names[v.Name] = v;
            definedHere.Add(v);
        }

        for (int i = 0; i < g.Inputs.Count; i++) Define(g.Inputs[i], null, i);
        foreach (var op in g.Operations)
        {
            if (!ReferenceEquals(op.Parent, g)) throw Fail(g, $"{op.Describe()} does not point back to its graph");
            for (int i = 0; i < op.Inputs.Count; i++)
                if (op.Inputs[i] is { } v && !visible.Contains(v))
                    throw Fail(g, $"{op.Describe()}: operand {i} (%{v.Name}) is used before it is defined");
            foreach (var nested in op.NestedGraphs)
            {
                if (!ReferenceEquals(nested.ParentOperation, op)) throw Fail(g, $"{op.Describe()}: nested graph '{nested.Name}' does not point back to it");
                VerifyGraph(nested, names, visible);
            }
            for (int i = 0; i < op.Outputs.Count; i++)
                if (op.Outputs[i] is { } r) Define(r, op, i);
        }
        foreach (var v in g.Outputs)
            if (!visible.Contains(v)) throw Fail(g, $"output %{v.Name} is not defined");

        // Values of a nested graph are not visible after it (names stay reserved).
        if (g.ParentOperation is not null)
            foreach (var v in definedHere) visible.Remove(v);
    }

    private static KilnException Fail(Graph g, string message) => new(ErrorCode.InvalidIr, $"graph '{g.Name}': {message}");
}
