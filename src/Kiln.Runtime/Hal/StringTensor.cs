namespace Kiln.Runtime.Hal;

/// <summary>
/// A tensor of strings: a shape and its elements in row-major order. Strings are host values, not
/// device data: the compiled program holds a string tensor in an object register (as it holds a
/// sequence), and only the "str" native module's operations read or make them; where an operation
/// mixes strings and numbers (Equal, RegexFullMatch, StringSplit's counts, LabelEncoder) the numbers
/// are ordinary <see cref="BufferView"/>s. Immutable: every operation returns a new tensor, so one
/// held in a register or handed to a caller never changes under it. Thread-safe (immutable).
/// </summary>
public sealed class StringTensor
{
    private readonly long[] _shape;
    private readonly string[] _data;

    /// <summary>A string tensor of the given shape holding a copy of <paramref name="data"/> (no nulls; as many as the shape holds).</summary>
    public StringTensor(IReadOnlyList<string> data, params long[] shape)
        : this(Copy(data), (long[])shape.Clone(), check: true) { }

    private StringTensor(string[] data, long[] shape, bool check)
    {
        if (check)
        {
            long count = BufferView.CheckedCount(shape);
            if (count != data.Length)
                throw new KilnRuntimeException(StatusCode.InvalidArgument, $"a string tensor of shape {BufferView.FormatShape(shape)} holds {count} strings, {data.Length} given");
            foreach (var s in data)
                if (s is null) throw new KilnRuntimeException(StatusCode.InvalidArgument, "a string tensor cannot hold null");
        }
        _data = data;
        _shape = shape;
    }

    /// <summary>Takes ownership of arrays the caller made and will not change (the runtime's own results).</summary>
    internal static StringTensor Own(string[] data, long[] shape) => new(data, shape, check: true);

    public static StringTensor Scalar(string value) => new([value], []);

    public ReadOnlySpan<long> Shape => _shape;
    public int Rank => _shape.Length;
    public long ElementCount => _data.Length;
    public string this[long i] => _data[i];
    public IReadOnlyList<string> Data => Array.AsReadOnly(_data);

    /// <summary>The elements as a new array.</summary>
    public string[] ToArray() => (string[])_data.Clone();

    internal string[] Elements => _data;

    private static string[] Copy(IReadOnlyList<string> data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var copy = new string[data.Count];
        for (int i = 0; i < copy.Length; i++) copy[i] = data[i];
        return copy;
    }

    public override string ToString() => $"string{BufferView.FormatShape(_shape)}";
}
