using Kiln.Ir;

namespace Kiln.Compiler.Passes.Decompositions;

/// <summary>
/// Builds a nested graph (a Scan or Loop body) for a decomposition: inputs, operations appended
/// in order with fresh names and undefined result types (shape inference types them when it
/// infers the enclosing operation), and outputs. Not thread-safe.
/// </summary>
internal sealed class BodyBuilder
{
    private readonly string _prefix;

    public BodyBuilder(DecompositionBuilder outer, string name)
    {
        Graph = outer.Graph.CreateNested(outer.Graph.UniqueName(name));
        _prefix = Graph.Name + ".";
    }

    public Graph Graph { get; }

    /// <summary>A body input; Scan and Loop inference give it its type from the enclosing operation's operands.</summary>
    public Value Input(string name, ElementType type) => Graph.AddInput(_prefix + name, new TensorType(type, Shape.Unranked));

    public void Output(Value v) => Graph.AddOutput(v);

    public Value Add(string opType, Value?[] inputs, IDictionary<string, AttributeValue>? attributes = null)
    {
        var name = Graph.UniqueName(_prefix + opType);
        return Graph.AddOperation(opType, inputs, [name], attributes, name: Graph.UniqueName(_prefix + opType + "_op"),
            outputTypes: [new TensorType(ElementType.Undefined, Shape.Unranked)]).Output(0);
    }

    public Value Constant(TensorData value) =>
        Graph.AddOperation("Constant", [], [Graph.UniqueName(_prefix + "const")],
            new Dictionary<string, AttributeValue> { ["value"] = AttributeValue.Tensor(value) }, outputTypes: [value.Type]).Output(0);

    public Value Int64s(params long[] values) => Constant(TensorData.Vector(values));
}
