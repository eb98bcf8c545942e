namespace Kiln.Ir;

/// <summary>
/// An SSA value: the result of one operation, or an input of a graph. It has a type, which
/// shape inference may refine, and a name unique within its graph's scope (the ONNX value name
/// where one exists, so errors and printed IR point back to the model).
/// Not thread-safe: a graph is built and transformed by one thread at a time.
/// </summary>
public sealed class Value
{
    public string Name { get; internal set; }
    public IrType Type { get; set; }

    /// <summary>The operation that produces this value, or null for a graph input.</summary>
    public Operation? Producer { get; internal set; }

    /// <summary>Index among the producer's results (or among the graph's inputs).</summary>
    public int Index { get; internal set; }

    /// <summary>The graph whose scope defines this value.</summary>
    public Graph? Owner { get; internal set; }

    internal Value(string name, IrType type)
    {
        Name = name;
        Type = type;
    }

    public TensorType TensorType => Type as TensorType
        ?? throw new KilnException(ErrorCode.TypeMismatch, $"value '{Name}' is {Type}, not a tensor");

    public override string ToString() => $"%{Name}: {Type}";
}
