namespace Kiln.Ir;

/// <summary>The type of an SSA value: a tensor, a sequence of values, or an optional value. Immutable.</summary>
public abstract class IrType : IEquatable<IrType>
{
    public abstract bool Equals(IrType? other);
    public override bool Equals(object? obj) => obj is IrType t && Equals(t);
    public abstract override int GetHashCode();

    /// <summary>Text form, e.g. f32[1,3,H,W], seq&lt;i64[*]&gt;, opt&lt;f32[2]&gt;.</summary>
    public abstract override string ToString();
}

/// <summary>A tensor of one element type and a (possibly symbolic or unranked) shape.</summary>
public sealed class TensorType(ElementType elementType, Shape shape) : IrType
{
    public ElementType ElementType { get; } = elementType;
    public Shape Shape { get; } = shape;

    public TensorType(ElementType elementType, params long[] dims) : this(elementType, Shape.Of(dims)) { }

    public TensorType WithShape(Shape shape) => new(ElementType, shape);

    public override bool Equals(IrType? other) => other is TensorType t && t.ElementType == ElementType && t.Shape.Equals(Shape);
    public override int GetHashCode() => HashCode.Combine(ElementType, Shape);
    public override string ToString() => ElementType.ShortName() + Shape;
}

/// <summary>An ONNX sequence: an ordered list of values of one element type.</summary>
public sealed class SequenceType(IrType elementType) : IrType
{
    public IrType ElementType { get; } = elementType;
    public override bool Equals(IrType? other) => other is SequenceType s && s.ElementType.Equals(ElementType);
    public override int GetHashCode() => HashCode.Combine(1, ElementType);
    public override string ToString() => $"seq<{ElementType}>";
}

/// <summary>An ONNX optional: a value of the element type, or none.</summary>
public sealed class OptionalType(IrType elementType) : IrType
{
    public IrType ElementType { get; } = elementType;
    public override bool Equals(IrType? other) => other is OptionalType s && s.ElementType.Equals(ElementType);
    public override int GetHashCode() => HashCode.Combine(2, ElementType);
    public override string ToString() => $"opt<{ElementType}>";
}
