namespace Kiln.Runtime.Hal;

/// <summary>
/// An ONNX sequence: an ordered list of tensors of one dtype (shapes may differ). Immutable: the
/// host program's sequence operations return new sequences, so a sequence held in a register or
/// handed to a caller never changes under it. Its tensors are shared, not copied; the compiled
/// program gives each tensor it puts in a sequence a buffer of its own. Thread-safe (immutable).
/// </summary>
public sealed class TensorSequence
{
    private readonly BufferView[] _items;

    public TensorSequence(DType elementType, IEnumerable<BufferView> items)
    {
        ElementType = elementType;
        _items = items.ToArray();
        foreach (var t in _items)
        {
            ArgumentNullException.ThrowIfNull(t);
            if (t.DType != elementType)
                throw new KilnRuntimeException(StatusCode.InvalidArgument, $"a sequence of {elementType.Name()} tensors cannot hold {t}");
        }
    }

    public DType ElementType { get; }
    public int Count => _items.Length;
    public BufferView this[int i] => _items[i];
    public IReadOnlyList<BufferView> Items => _items;

    /// <summary>A position in [-Count, Count - 1] (or up to Count when <paramref name="end"/> is allowed), made non-negative.</summary>
    internal int Position(long position, bool end, string what)
    {
        long n = _items.Length, p = position < 0 ? position + n : position;
        if (p < 0 || p > (end ? n : n - 1))
            throw new KilnRuntimeException(StatusCode.OutOfRange, $"{what}: position {position} is outside a sequence of {n} tensors");
        return (int)p;
    }

    internal TensorSequence Insert(int at, BufferView item)
    {
        var items = new List<BufferView>(_items);
        items.Insert(at, item);
        return new TensorSequence(ElementType, items);
    }

    internal TensorSequence Erase(int at)
    {
        var items = new List<BufferView>(_items);
        items.RemoveAt(at);
        return new TensorSequence(ElementType, items);
    }

    public override string ToString() => $"seq<{ElementType.Name()}>[{_items.Length}]";
}
