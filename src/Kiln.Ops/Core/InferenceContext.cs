using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// What an operator's type inference sees: its operands' types, the values of operands that are
/// known at compile time (constants, and the symbolic contents of small integer tensors computed
/// from shapes), and where to put its results' types. Created by <see cref="ShapeInference"/> for
/// one operation at a time; not thread-safe.
/// </summary>
public sealed class InferenceContext
{
    private readonly ShapeInference _driver;

    internal InferenceContext(ShapeInference driver, Operation op)
    {
        _driver = driver;
        Op = op;
    }

    public Operation Op { get; }

    public int InputCount => Op.Inputs.Count;
    public int OutputCount => Op.Outputs.Count;

    public bool HasInput(int i) => i < Op.Inputs.Count && Op.Inputs[i] is not null;
    public bool HasOutput(int i) => Op.HasOutput(i);

    public IrType InputType(int i) => Op.Input(i).Type;

    public TensorType InputTensor(int i) => Op.Input(i).Type as TensorType
        ?? throw Error($"input {i} must be a tensor, got {Op.Input(i).Type}");

    public ElementType InputElementType(int i) => InputTensor(i).ElementType;
    public Shape InputShape(int i) => InputTensor(i).Shape;

    /// <summary>The input's rank; throws if the rank is not known.</summary>
    public int InputRank(int i)
    {
        var s = InputShape(i);
        return s.IsRanked ? s.Rank : throw new ShapeUnknownException();
    }

    /// <summary>The input's value if it is known at compile time.</summary>
    public TensorData? InputConstant(int i) => HasInput(i) ? _driver.ConstantOf(Op.Input(i)) : null;

    /// <summary>
    /// The elements of an integer tensor of rank 0 or 1 whose values are known symbolically (for
    /// example Shape(x) gives [N, 3, H, W]); null if unknown. Constants count as known.
    /// </summary>
    public Dim[]? InputShapeValue(int i) => HasInput(i) ? _driver.ShapeValueOf(Op.Input(i)) : null;

    public AttributeValue? Attribute(string name) => Op.GetAttribute(name);

    public void SetOutput(int i, IrType type)
    {
        if (Op.Outputs[i] is { } v) _driver.SetType(v, type);
    }

    public void SetOutput(int i, ElementType elementType, Shape shape) => SetOutput(i, new TensorType(elementType, shape));

    /// <summary>Records the symbolic elements of a rank-0 or rank-1 integer result (shape arithmetic).</summary>
    public void SetOutputShapeValue(int i, Dim[] values)
    {
        if (Op.Outputs[i] is { } v) _driver.SetShapeValue(v, values);
    }

    /// <summary>
    /// Infers a nested graph for the given input types (setting its inputs' types) and returns
    /// the types of its outputs.
    /// </summary>
    public IReadOnlyList<IrType> InferGraph(Graph graph, IReadOnlyList<IrType> inputTypes)
    {
        if (inputTypes.Count != graph.Inputs.Count)
            throw Error($"graph '{graph.Name}' takes {graph.Inputs.Count} inputs, {inputTypes.Count} given");
        for (int i = 0; i < inputTypes.Count; i++) graph.Inputs[i].Type = inputTypes[i];
        _driver.InferNested(graph);
        return graph.Outputs.Select(o => o.Type).ToArray();
    }

    /// <summary>A fresh dimension for a size known only at run time.</summary>
    public Dim UnknownDim() => Dim.Unknown();

    /// <summary>An error that names this operation.</summary>
    public KilnException Error(string message) => new(ErrorCode.InvalidShape, $"{Op.Describe()}: {message}");

    public KilnException TypeError(string message) => new(ErrorCode.TypeMismatch, $"{Op.Describe()}: {message}");
}

/// <summary>
/// Thrown by inference code when an input's rank is unknown, so the result is unranked. Caught by
/// the driver, which then gives every result an unranked type of the inferred element type.
/// </summary>
public sealed class ShapeUnknownException : Exception { }
