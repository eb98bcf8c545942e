using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// What an operator's reference implementation sees: its operand values (null where an optional
/// operand is absent), its attributes through <see cref="Op"/>, and where to put its results.
/// Created by <see cref="ReferenceEvaluator"/> for one operation at a time; not thread-safe.
/// </summary>
public sealed class EvaluationContext
{
    private readonly ReferenceEvaluator _evaluator;
    private readonly DataValue?[] _inputs;
    private readonly DataValue?[] _outputs;
    private readonly EvaluationScope _scope;

    internal EvaluationContext(ReferenceEvaluator evaluator, Operation op, DataValue?[] inputs, EvaluationScope scope)
    {
        _evaluator = evaluator;
        Op = op;
        _inputs = inputs;
        _outputs = new DataValue?[op.Outputs.Count];
        _scope = scope;
    }

    public Operation Op { get; }
    public int InputCount => _inputs.Length;
    public int OutputCount => _outputs.Length;

    public bool HasInput(int i) => i < _inputs.Length && _inputs[i] is not null;
    public bool HasOutput(int i) => Op.HasOutput(i);

    public DataValue? Input(int i) => i < _inputs.Length ? _inputs[i] : null;

    /// <summary>A required tensor operand.</summary>
    public TensorData Tensor(int i) => Input(i) switch
    {
        TensorData t => t,
        null => throw Error($"input {i} is missing"),
        var other => throw Error($"input {i} must be a tensor, got {other.Type}"),
    };

    /// <summary>An optional tensor operand (null when absent; an empty-name input in ONNX).</summary>
    public TensorData? OptionalTensor(int i) => Input(i) switch
    {
        null => null,
        TensorData t => t,
        var other => throw Error($"input {i} must be a tensor, got {other.Type}"),
    };

    public SequenceData Sequence(int i) => Input(i) as SequenceData ?? throw Error($"input {i} must be a sequence");

    /// <summary>All operand values (for variadic operators); absent ones are null.</summary>
    public IReadOnlyList<DataValue?> Inputs => _inputs;

    public void SetOutput(int i, DataValue value)
    {
        if (i < _outputs.Length) _outputs[i] = value;
    }

    internal DataValue?[] Outputs => _outputs;

    /// <summary>Runs a nested graph (If branch, Loop or Scan body) with the given inputs; it sees this operation's scope.</summary>
    public IReadOnlyList<DataValue> RunGraph(Graph graph, IReadOnlyList<DataValue> inputs) =>
        _evaluator.RunNested(graph, inputs, _scope);

    /// <summary>Deterministic random numbers for random operators (seeded from the 'seed' attribute when given).</summary>
    public Random Random => _evaluator.RandomFor(Op);

    public KilnException Error(string message) => new(ErrorCode.EvaluationFailed, $"{Op.Describe()}: {message}");
}
