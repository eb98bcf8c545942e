using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// Runs a graph on host data, one operation at a time, with each operator's reference
/// implementation. Plain and obviously correct: the oracle compiled code is tested against.
/// Values are released after their last use, so large models run in bounded memory.
/// Every failure is a <see cref="KilnException"/>: wrong inputs are <see cref="ErrorCode.InvalidArgument"/>,
/// failures inside an operator name the node. Not thread-safe; use one evaluator per thread.
/// </summary>
public sealed class ReferenceEvaluator
{
    private readonly OpRegistry _registry;
    private readonly Dictionary<Operation, Random> _random = new(ReferenceEqualityComparer.Instance);

    public ReferenceEvaluator(OpRegistry? registry = null) => _registry = registry ?? OpRegistry.Default;

    /// <summary>Runs the graph with inputs given by position; returns the outputs in order.</summary>
    public IReadOnlyList<DataValue> Run(Graph graph, IReadOnlyList<DataValue> inputs)
    {
        if (inputs.Count != graph.Inputs.Count)
            throw new KilnException(ErrorCode.InvalidArgument, $"the graph takes {graph.Inputs.Count} inputs, {inputs.Count} given");
        InputValidation.Check(graph, inputs);
        return RunNested(graph, inputs, null);
    }

    /// <summary>Runs the graph with inputs given by name; returns outputs by name.</summary>
    public IReadOnlyDictionary<string, DataValue> Run(Graph graph, IReadOnlyDictionary<string, DataValue> inputs)
    {
        foreach (var name in inputs.Keys)
            if (!graph.Inputs.Any(i => i.Name == name))
                throw new KilnException(ErrorCode.InvalidArgument, $"the model has no input named '{name}' (inputs: {string.Join(", ", graph.Inputs.Select(i => i.Name))})");
        var list = graph.Inputs.Select(i => inputs.TryGetValue(i.Name, out var v) ? v
            : throw new KilnException(ErrorCode.InvalidArgument, $"input '{i.Name}' is not given")).ToList();
        var outputs = Run(graph, list);
        var result = new Dictionary<string, DataValue>(StringComparer.Ordinal);
        for (int i = 0; i < outputs.Count; i++) result[graph.Outputs[i].Name] = outputs[i];
        return result;
    }

    internal IReadOnlyList<DataValue> RunNested(Graph graph, IReadOnlyList<DataValue> inputs, EvaluationScope? outer)
    {
        var scope = new EvaluationScope(outer);
        for (int i = 0; i < graph.Inputs.Count; i++)
            scope.Set(graph.Inputs[i], i < inputs.Count ? inputs[i] : throw new KilnException(ErrorCode.EvaluationFailed, $"graph '{graph.Name}' needs {graph.Inputs.Count} inputs, got {inputs.Count}"));

        var lastUse = LastUses(graph);
        var ops = graph.Operations;
        for (int k = 0; k < ops.Count; k++)
        {
            var op = ops[k];
            var args = new DataValue?[op.Inputs.Count];
            for (int i = 0; i < args.Length; i++)
                if (op.Inputs[i] is { } v) args[i] = scope.Get(v);
            var results = Evaluate(op, args, scope);
            for (int i = 0; i < results.Length; i++)
                if (op.Outputs[i] is { } r)
                    scope.Set(r, results[i] ?? throw new KilnException(ErrorCode.EvaluationFailed, $"{op.Describe()}: result {i} was not computed"));
            // Release values whose last use was this operation.
            foreach (var v in op.Inputs)
                if (v is not null && lastUse.TryGetValue(v, out int last) && last == k) scope.Release(v);
        }
        return graph.Outputs.Select(scope.Get).ToArray();
    }

    /// <summary>Evaluates one operation on the given operand values (used by constant folding).</summary>
    public DataValue?[] EvaluateOperation(Operation op, DataValue?[] args) => Evaluate(op, args, new EvaluationScope(null));

    private DataValue?[] Evaluate(Operation op, DataValue?[] args, EvaluationScope scope)
    {
        var def = _registry.Get(op);
        var ctx = new EvaluationContext(this, op, args, scope);
        try
        {
            def.Evaluate(ctx);
        }
        catch (KilnException e) when (!e.Message.StartsWith(op.Describe(), StringComparison.Ordinal))
        {
            // Shared helpers (broadcasting, conversions) cannot name the node; say which one failed.
            throw new KilnException(e.Code, $"{op.Describe()}: {e.Message}", e);
        }
        catch (KilnException) { throw; }
        catch (Exception e) when (e is not OutOfMemoryException and not StackOverflowException)
        {
            throw new KilnException(ErrorCode.EvaluationFailed, $"{op.Describe()}: {e.GetType().Name}: {e.Message}", e);
        }
        return ctx.Outputs;
    }

    internal Random RandomFor(Operation op)
    {
        if (!_random.TryGetValue(op, out var r))
        {
            float seed = op.GetFloat("seed", 0);
            r = new Random(BitConverter.SingleToInt32Bits(seed));
            _random[op] = r;
        }
        return r;
    }

    /// <summary>For each value used in this graph (directly or by nested graphs), the index of the last operation using it.</summary>
    private static Dictionary<Value, int> LastUses(Graph graph)
    {
        var last = new Dictionary<Value, int>(ReferenceEqualityComparer.Instance);
        var ops = graph.Operations;
        for (int k = 0; k < ops.Count; k++)
        {
            foreach (var v in ops[k].Inputs) if (v is not null) last[v] = k;
            foreach (var g in ops[k].NestedGraphs)
                foreach (var inner in g.AllOperations())
                    foreach (var v in inner.Inputs) if (v is not null) last[v] = k;
            foreach (var g in ops[k].NestedGraphs)
                foreach (var v in g.Outputs) last[v] = k;
        }
        foreach (var v in graph.Outputs) last.Remove(v);
        return last;
    }
}

/// <summary>Values computed so far in a graph, with the scope of the enclosing graph for captured values.</summary>
internal sealed class EvaluationScope(EvaluationScope? parent)
{
    private readonly Dictionary<Value, DataValue> _values = new(ReferenceEqualityComparer.Instance);

    public void Set(Value v, DataValue d) => _values[v] = d;

    public void Release(Value v) => _values.Remove(v);

    public DataValue Get(Value v)
    {
        for (var s = this; s is not null; s = s.Parent)
            if (s._values.TryGetValue(v, out var d)) return d;
        throw new KilnException(ErrorCode.EvaluationFailed, $"value '{v.Name}' has no value (used before it was computed, or released)");
    }

    public EvaluationScope? Parent => parent;
}
