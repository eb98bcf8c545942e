using System.Globalization;

namespace Kiln.Ir;

public enum AttributeKind { Int, Float, String, Tensor, Graph, Type, Ints, Floats, Strings, Tensors, Graphs, Types }

/// <summary>
/// A typed, immutable attribute value of an operation: integers are 64-bit, floats 32-bit
/// (as in ONNX), strings UTF-8 text, tensors host data, graphs nested regions (the bodies of
/// If, Loop, Scan), types IR types.
/// </summary>
public sealed class AttributeValue
{
    public AttributeKind Kind { get; }
    private readonly object _value;

    private AttributeValue(AttributeKind kind, object value) { Kind = kind; _value = value; }

    public static AttributeValue Int(long v) => new(AttributeKind.Int, v);
    public static AttributeValue Float(float v) => new(AttributeKind.Float, v);
    public static AttributeValue String(string v) => new(AttributeKind.String, v);
    public static AttributeValue Tensor(TensorData v) => new(AttributeKind.Tensor, v);
    public static AttributeValue Graph(Graph v) => new(AttributeKind.Graph, v);
    public static AttributeValue Type(IrType v) => new(AttributeKind.Type, v);
    public static AttributeValue Ints(params long[] v) => new(AttributeKind.Ints, v);
    public static AttributeValue Floats(params float[] v) => new(AttributeKind.Floats, v);
    public static AttributeValue Strings(params string[] v) => new(AttributeKind.Strings, v);
    public static AttributeValue Tensors(params TensorData[] v) => new(AttributeKind.Tensors, v);
    public static AttributeValue Graphs(params Graph[] v) => new(AttributeKind.Graphs, v);
    public static AttributeValue Types(params IrType[] v) => new(AttributeKind.Types, v);

    public long AsInt() => Kind == AttributeKind.Int ? (long)_value : throw Mismatch(AttributeKind.Int);
    public float AsFloat() => Kind switch
    {
        AttributeKind.Float => (float)_value,
        AttributeKind.Int => (long)_value, // ONNX producers sometimes write 0 for 0.0
        _ => throw Mismatch(AttributeKind.Float),
    };
    public string AsString() => Kind == AttributeKind.String ? (string)_value : throw Mismatch(AttributeKind.String);
    public TensorData AsTensor() => Kind == AttributeKind.Tensor ? (TensorData)_value : throw Mismatch(AttributeKind.Tensor);
    public Graph AsGraph() => Kind == AttributeKind.Graph ? (Graph)_value : throw Mismatch(AttributeKind.Graph);
    public IrType AsType() => Kind == AttributeKind.Type ? (IrType)_value : throw Mismatch(AttributeKind.Type);
    public long[] AsInts() => Kind switch
    {
        AttributeKind.Ints => (long[])_value,
        AttributeKind.Int => [(long)_value],
        _ => throw Mismatch(AttributeKind.Ints),
    };
    public float[] AsFloats() => Kind switch
    {
        AttributeKind.Floats => (float[])_value,
        AttributeKind.Float => [(float)_value],
        _ => throw Mismatch(AttributeKind.Floats),
    };
    public string[] AsStrings() => Kind == AttributeKind.Strings ? (string[])_value : throw Mismatch(AttributeKind.Strings);
    public TensorData[] AsTensors() => Kind == AttributeKind.Tensors ? (TensorData[])_value : throw Mismatch(AttributeKind.Tensors);
    public Graph[] AsGraphs() => Kind == AttributeKind.Graphs ? (Graph[])_value : throw Mismatch(AttributeKind.Graphs);
    public IrType[] AsTypes() => Kind == AttributeKind.Types ? (IrType[])_value : throw Mismatch(AttributeKind.Types);

    /// <summary>The raw boxed value (long, float, string, TensorData, Graph, IrType or an array of them).</summary>
    public object RawValue => _value;

    /// <summary>Nested graphs held by this attribute (none, one, or several).</summary>
    public IEnumerable<Graph> NestedGraphs => Kind switch
    {
        AttributeKind.Graph => [(Graph)_value],
        AttributeKind.Graphs => (Graph[])_value,
        _ => [],
    };

    private KilnException Mismatch(AttributeKind wanted) =>
        new(ErrorCode.InvalidModel, $"attribute is {Kind.ToString().ToLowerInvariant()}, expected {wanted.ToString().ToLowerInvariant()}");

    public override string ToString() => Kind switch
    {
        AttributeKind.Int => ((long)_value).ToString(CultureInfo.InvariantCulture),
        AttributeKind.Float => ((float)_value).ToString("R", CultureInfo.InvariantCulture),
        AttributeKind.String => $"\"{_value}\"",
        AttributeKind.Ints => "[" + string.Join(", ", (long[])_value) + "]",
        _ => Kind.ToString(),
    };
}
