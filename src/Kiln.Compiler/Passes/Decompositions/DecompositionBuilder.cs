using Kiln.Ir;

namespace Kiln.Compiler.Passes.Decompositions;

/// <summary>
/// Builds the replacement of one operation: every operation added goes just before the original
/// (so operands are defined and order stays topological), with fresh names derived from the
/// original's. Result types start undefined; <see cref="Decompose"/> infers them afterwards.
/// One builder per rewrite; not thread-safe.
/// </summary>
public sealed class DecompositionBuilder
{
    private readonly Graph _graph;
    private readonly Operation _original;
    private readonly string _prefix;

    internal DecompositionBuilder(Graph graph, Operation original)
    {
        _graph = graph;
        _original = original;
        _prefix = (original.Name.Length > 0 ? original.Name : original.OpType) + ".";
    }

    /// <summary>The graph being rewritten (for nested graphs a decomposition builds, such as Scan bodies).</summary>
    public Graph Graph => _graph;

    /// <summary>Adds a one-result operation; returns its result.</summary>
    public Value Add(string opType, Value?[] inputs, IDictionary<string, AttributeValue>? attributes = null, string domain = "") =>
        AddMany(opType, inputs, 1, attributes, domain)[0];

    /// <summary>Adds an operation with <paramref name="results"/> results; returns them.</summary>
    public Value[] AddMany(string opType, Value?[] inputs, int results, IDictionary<string, AttributeValue>? attributes = null, string domain = "")
    {
        var names = Enumerable.Range(0, results).Select(_ => _graph.UniqueName(_prefix + opType)).ToArray();
        var op = _graph.AddOperation(opType, inputs, names, attributes, domain,
            name: _graph.UniqueName(_prefix + opType),
            outputTypes: names.Select(_ => (IrType)new TensorType(ElementType.Undefined, Shape.Unranked)),
            insertAt: _graph.IndexOf(_original));
        return op.Outputs.Select(o => o!).ToArray();
    }

    /// <summary>A constant tensor.</summary>
    public Value Constant(TensorData value) =>
        _graph.AddOperation("Constant", [], [_graph.UniqueName(_prefix + "const")],
            new Dictionary<string, AttributeValue> { ["value"] = AttributeValue.Tensor(value) },
            outputTypes: [value.Type], insertAt: _graph.IndexOf(_original)).Output(0);

    /// <summary>A one-dimensional int64 constant (axes, shapes, starts).</summary>
    public Value Int64s(params long[] values) => Constant(TensorData.Vector(values));

    /// <summary>A scalar constant of element type <paramref name="type"/> (a floating or signed integer type).</summary>
    public Value Scalar(ElementType type, double value) => Constant(type switch
    {
        ElementType.Float32 => TensorData.Scalar(type, (float)value),
        ElementType.Float64 => TensorData.Scalar(type, value),
        ElementType.Float16 => TensorData.Scalar(type, (Half)value),
        ElementType.BFloat16 => TensorData.Scalar(type, (BFloat16)(float)value),
        ElementType.Int64 => TensorData.Scalar(type, (long)value),
        ElementType.Int32 => TensorData.Scalar(type, (int)value),
        _ => throw new KilnException(ErrorCode.UnsupportedOperator, $"a decomposition needs a scalar of {type.OnnxName()}"),
    });

    /// <summary>Attribute dictionary shorthand: pairs of name and value.</summary>
    public static Dictionary<string, AttributeValue> Attrs(params (string Name, AttributeValue Value)[] pairs) =>
        pairs.ToDictionary(p => p.Name, p => p.Value);

    /// <summary>Replaces the original's results by <paramref name="results"/> (graph outputs keep their names) and removes it.</summary>
    internal void Finish(Value?[] results)
    {
        if (results.Length != _original.Outputs.Count)
            throw new InvalidOperationException($"decomposition of {_original.Describe()} gave {results.Length} results for {_original.Outputs.Count}");
        for (int i = 0; i < results.Length; i++)
        {
            if (_original.Outputs[i] is not { } old) continue;
            var replacement = results[i] ?? throw new InvalidOperationException($"decomposition of {_original.Describe()} left result {i} undefined");
            string name = old.Name;
            _graph.Rename(old, name + "_decomposed");
            _graph.Rename(replacement, name);
            _graph.ReplaceAllUses(old, replacement);
        }
        _graph.Remove(_original);
    }
}
