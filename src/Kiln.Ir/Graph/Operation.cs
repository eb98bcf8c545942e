namespace Kiln.Ir;

/// <summary>
/// One operation of a graph: an operator (domain + type, e.g. "" + "Conv"), operands, results,
/// attributes (nested graphs included, as graph-valued attributes) and an optional node name.
/// Optional operands and results that are absent are null, keeping ONNX positions.
/// Operators have the semantics of the newest ONNX version; the importer upgrades older forms.
/// Not thread-safe.
/// </summary>
public sealed class Operation
{
    private readonly Value?[] _inputs;
    private readonly Value?[] _outputs;

    /// <summary>Operator domain: "" for the default ONNX domain, else e.g. "ai.onnx.ml" or "kiln".</summary>
    public string Domain { get; }
    public string OpType { get; }

    /// <summary>The node name from the model (may be empty); used in error messages.</summary>
    public string Name { get; set; }

    public SortedDictionary<string, AttributeValue> Attributes { get; }

    /// <summary>The graph this operation belongs to (set when it is added to one).</summary>
    public Graph? Parent { get; internal set; }

    internal Operation(string domain, string opType, string name, Value?[] inputs, int outputCount, SortedDictionary<string, AttributeValue>? attributes)
    {
        Domain = domain;
        OpType = opType;
        Name = name;
        _inputs = inputs;
        _outputs = new Value?[outputCount];
        Attributes = attributes ?? new SortedDictionary<string, AttributeValue>(StringComparer.Ordinal);
    }

    public IReadOnlyList<Value?> Inputs => _inputs;
    public IReadOnlyList<Value?> Outputs => _outputs;

    /// <summary>The qualified operator name: "Conv", or "ai.onnx.ml.TreeEnsemble" outside the default domain.</summary>
    public string QualifiedType => Domain.Length == 0 ? OpType : Domain + "." + OpType;

    public Value Input(int i) => i < _inputs.Length && _inputs[i] is { } v ? v
        : throw new KilnException(ErrorCode.InvalidModel, $"{Describe()}: input {i} is missing");

    public Value? OptionalInput(int i) => i < _inputs.Length ? _inputs[i] : null;

    public Value Output(int i) => i < _outputs.Length && _outputs[i] is { } v ? v
        : throw new KilnException(ErrorCode.InvalidModel, $"{Describe()}: output {i} is absent");

    public bool HasOutput(int i) => i < _outputs.Length && _outputs[i] is not null;

    public void SetInput(int i, Value? v) => _inputs[i] = v;

    internal void SetOutput(int i, Value? v) => _outputs[i] = v;

    // Attribute access with defaults. Errors name the node.
    public bool HasAttribute(string name) => Attributes.ContainsKey(name);
    public AttributeValue? GetAttribute(string name) => Attributes.TryGetValue(name, out var a) ? a : null;

    public long GetInt(string name, long defaultValue) => Attributes.TryGetValue(name, out var a) ? Wrap(name, a.AsInt) : defaultValue;
    public long GetInt(string name) => Wrap(name, Required(name).AsInt);
    public float GetFloat(string name, float defaultValue) => Attributes.TryGetValue(name, out var a) ? Wrap(name, a.AsFloat) : defaultValue;
    public float GetFloat(string name) => Wrap(name, Required(name).AsFloat);
    public string GetString(string name, string defaultValue) => Attributes.TryGetValue(name, out var a) ? Wrap(name, a.AsString) : defaultValue;
    public string GetString(string name) => Wrap(name, Required(name).AsString);
    public long[]? GetInts(string name) => Attributes.TryGetValue(name, out var a) ? Wrap(name, a.AsInts) : null;
    public float[]? GetFloats(string name) => Attributes.TryGetValue(name, out var a) ? Wrap(name, a.AsFloats) : null;
    public string[]? GetStrings(string name) => Attributes.TryGetValue(name, out var a) ? Wrap(name, a.AsStrings) : null;
    public TensorData? GetTensor(string name) => Attributes.TryGetValue(name, out var a) ? Wrap(name, a.AsTensor) : null;
    public Graph GetGraph(string name) => Wrap(name, Required(name).AsGraph);

    private AttributeValue Required(string name) => Attributes.TryGetValue(name, out var a) ? a
        : throw new KilnException(ErrorCode.InvalidModel, $"{Describe()}: required attribute '{name}' is missing");

    private T Wrap<T>(string name, Func<T> get)
    {
        try { return get(); }
        catch (KilnException e) when (e.Code == ErrorCode.InvalidModel) 
        { throw new KilnException(ErrorCode.InvalidModel, $"{Describe()}: attribute '{name}': {e.Message}"); }
    }

    /// <summary>Every graph nested in this operation's attributes.</summary>
    public IEnumerable<Graph> NestedGraphs => Attributes.Values.SelectMany(a => a.NestedGraphs);

    /// <summary>"Conv node 'conv1'" or "Conv node producing 'y'": how errors name an operation.</summary>
    public string Describe()
    {
        if (Name.Length > 0) return $"{QualifiedType} node '{Name}'";
        var first = _outputs.FirstOrDefault(o => o is not null);
        return first is not null ? $"{QualifiedType} node producing '{first.Name}'" : $"{QualifiedType} node";
    }

    public override string ToString() => Describe();
}
