namespace Kiln.Ir;

/// <summary>
/// A graph: inputs (block arguments), operations in topological order, outputs. A graph is the
/// body of a model or a region nested in an operation (If branches, Loop and Scan bodies); a nested
/// graph may use values of the graphs that enclose it (implicit capture, as in ONNX).
/// Value names are unique across a model: nested graphs share their root graph's name table.
/// Not thread-safe.
/// </summary>
public sealed class Graph
{
    private readonly List<Value> _inputs = [];
    private readonly List<Operation> _operations = [];
    private readonly List<Value> _outputs = [];
    private readonly NameTable _names;

    public string Name { get; set; }

    /// <summary>The operation this graph is nested in, or null for a model's main graph.</summary>
    public Operation? ParentOperation { get; internal set; }
    public Graph? ParentGraph => ParentOperation?.Parent;

    public Graph(string name = "main") : this(name, new NameTable()) { }

    private Graph(string name, NameTable names) { Name = name; _names = names; }

    /// <summary>Creates an empty graph sharing this graph's name table, to be nested in an operation of it.</summary>
    public Graph CreateNested(string name) => new(name, _names);

    public IReadOnlyList<Value> Inputs => _inputs;
    public IReadOnlyList<Operation> Operations => _operations;
    public IReadOnlyList<Value> Outputs => _outputs;

    /// <summary>Adds a graph input; the name is made unique if needed.</summary>
    public Value AddInput(string name, IrType type)
    {
        var v = new Value(_names.Claim(name), type) { Owner = this, Index = _inputs.Count };
        _inputs.Add(v);
        return v;
    }

    public void AddOutput(Value v) => _outputs.Add(v);
    public void SetOutput(int i, Value v) => _outputs[i] = v;
    public void ClearOutputs() => _outputs.Clear();

    /// <summary>
    /// Creates an operation and appends it (or inserts it at <paramref name="insertAt"/>).
    /// <paramref name="outputNames"/> gives one name per result; a null or empty name makes an
    /// absent optional result. Result types start as the given types (or an unranked f32 placeholder
    /// until shape inference runs).
    /// </summary>
    public Operation AddOperation(string opType, IEnumerable<Value?> inputs, IEnumerable<string?> outputNames,
        IDictionary<string, AttributeValue>? attributes = null, string domain = "", string name = "",
        IEnumerable<IrType>? outputTypes = null, int insertAt = -1)
    {
        var names = outputNames.ToArray();
        var types = outputTypes?.ToArray();
        var attrs = attributes is null ? null : new SortedDictionary<string, AttributeValue>(attributes, StringComparer.Ordinal);
        var op = new Operation(domain, opType, name, inputs.ToArray(), names.Length, attrs) { Parent = this };
        for (int i = 0; i < names.Length; i++)
        {
            if (string.IsNullOrEmpty(names[i])) continue;
            var type = types is not null && i < types.Length ? types[i] : new TensorType(ElementType.Float32, Shape.Unranked);
            op.SetOutput(i, new Value(_names.Claim(names[i]!), type) { Producer = op, Index = i, Owner = this });
        }
        foreach (var g in op.NestedGraphs) g.ParentOperation = op;
        if (insertAt < 0) _operations.Add(op); else _operations.Insert(insertAt, op);
        return op;
    }

    /// <summary>Shorthand for a one-result operation: returns its result.</summary>
    public Value Add(string opType, Value?[] inputs, IDictionary<string, AttributeValue>? attributes = null,
        string? resultName = null, IrType? resultType = null, int insertAt = -1)
    {
        var op = AddOperation(opType, inputs, [resultName ?? opType.ToLowerInvariant()], attributes,
            outputTypes: resultType is null ? null : [resultType], insertAt: insertAt);
        return op.Output(0);
    }

    /// <summary>Attaches graph attributes that were created after the operation (sets their parent).</summary>
    public void AdoptNestedGraphs(Operation op)
    {
        foreach (var g in op.NestedGraphs) g.ParentOperation = op;
    }

    public int IndexOf(Operation op) => _operations.IndexOf(op);

    /// <summary>Removes an operation. Its results must have no remaining uses (not checked here; the verifier does).</summary>
    public void Remove(Operation op)
    {
        if (!_operations.Remove(op)) throw new InvalidOperationException($"{op.Describe()} is not in graph '{Name}'");
        op.Parent = null;
    }

    /// <summary>Replaces the operation list (for passes that rebuild the order).</summary>
    public void SetOperations(IEnumerable<Operation> ops)
    {
        var list = ops.ToList();
        _operations.Clear();
        _operations.AddRange(list);
        foreach (var op in list) op.Parent = this;
    }

    /// <summary>Replaces every use of <paramref name="old"/> by <paramref name="replacement"/>, in this graph and nested graphs.</summary>
    public void ReplaceAllUses(Value old, Value replacement)
    {
        foreach (var op in _operations)
        {
            for (int i = 0; i < op.Inputs.Count; i++)
                if (ReferenceEquals(op.Inputs[i], old)) op.SetInput(i, replacement);
            foreach (var g in op.NestedGraphs) g.ReplaceAllUses(old, replacement);
        }
        for (int i = 0; i < _outputs.Count; i++)
            if (ReferenceEquals(_outputs[i], old)) _outputs[i] = replacement;
    }

    /// <summary>Renames a value, keeping names unique; returns the name it got.</summary>
    public string Rename(Value v, string name)
    {
        _names.Release(v.Name);
        v.Name = _names.Claim(name);
        return v.Name;
    }

    /// <summary>A fresh unique name starting with <paramref name="hint"/>.</summary>
    public string UniqueName(string hint) => _names.Fresh(hint);

    /// <summary>Operations of this graph and of every nested graph, depth first.</summary>
    public IEnumerable<Operation> AllOperations()
    {
        foreach (var op in _operations)
        {
            yield return op;
            foreach (var g in op.NestedGraphs)
                foreach (var inner in g.AllOperations()) yield return inner;
        }
    }

    /// <summary>Counts the uses of each value defined or captured in this graph (operands and outputs, nested graphs included).</summary>
    public Dictionary<Value, int> CountUses()
    {
        var uses = new Dictionary<Value, int>(ReferenceEqualityComparer.Instance);
        void Walk(Graph g)
        {
            foreach (var op in g._operations)
            {
                foreach (var v in op.Inputs) if (v is not null) uses[v] = uses.GetValueOrDefault(v) + 1;
                foreach (var inner in op.NestedGraphs) Walk(inner);
            }
            foreach (var v in g._outputs) uses[v] = uses.GetValueOrDefault(v) + 1;
        }
        Walk(this);
        return uses;
    }

    public override string ToString() => $"graph '{Name}' ({_inputs.Count} inputs, {_operations.Count} operations, {_outputs.Count} outputs)";

    /// <summary>Unique value names across a model (shared by a root graph and its nested graphs).</summary>
    private sealed class NameTable
    {
        private readonly HashSet<string> _used = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int> _counters = new(StringComparer.Ordinal);

        public string Claim(string name)
        {
            if (name.Length > 0 && _used.Add(name)) return name;
            return Fresh(name.Length > 0 ? name : "v");
        }

        public string Fresh(string hint)
        {
            int n = _counters.GetValueOrDefault(hint);
            string candidate;
            do candidate = $"{hint}_{n++}"; while (!_used.Add(candidate));
            _counters[hint] = n;
            return candidate;
        }

        public void Release(string name) => _used.Remove(name);
    }
}
