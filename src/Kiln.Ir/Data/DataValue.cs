namespace Kiln.Ir;

/// <summary>
/// A concrete value on the host: a tensor, a sequence or an optional. What the reference
/// evaluator computes with, what test data is read into, and what constant attributes hold.
/// </summary>
public abstract class DataValue
{
    /// <summary>The IR type that describes this value exactly (static shapes).</summary>
    public abstract IrType Type { get; }
}

/// <summary>An ONNX sequence value. Immutable list.</summary>
public sealed class SequenceData(IrType elementType, IReadOnlyList<DataValue> items) : DataValue
{
    /// <summary>Declared element type (may be less specific than the items' own types).</summary>
    public IrType ElementType { get; } = elementType;
    public IReadOnlyList<DataValue> Items { get; } = items;
    public override IrType Type => new SequenceType(ElementType);
}

/// <summary>An ONNX optional value: an element, or none.</summary>
public sealed class OptionalData(IrType elementType, DataValue? value) : DataValue
{
    public IrType ElementType { get; } = elementType;
    public DataValue? Value { get; } = value;
    public bool HasValue => Value is not null;
    public override IrType Type => new OptionalType(ElementType);
}
