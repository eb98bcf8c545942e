using System.Collections;

namespace Kiln.Ir;

/// <summary>
/// The shape of a tensor: a list of dimensions, or "unranked" when even the rank is unknown.
/// Immutable; compared by value.
/// </summary>
public sealed class Shape : IEquatable<Shape>, IReadOnlyList<Dim>
{
    private readonly Dim[]? _dims;

    public static readonly Shape Unranked = new(null);
    public static readonly Shape Scalar = new(Array.Empty<Dim>());

    private Shape(Dim[]? dims) => _dims = dims;

    public Shape(IEnumerable<Dim> dims) : this(dims.ToArray()) { }

    public static Shape Of(params Dim[] dims) => new((Dim[])dims.Clone());
    public static Shape Of(ReadOnlySpan<long> dims)
    {
        var d = new Dim[dims.Length];
        for (int i = 0; i < d.Length; i++) d[i] = dims[i];
        return new Shape(d);
    }

    public bool IsRanked => _dims is not null;
    public int Rank => _dims?.Length ?? throw new InvalidOperationException("shape is unranked");
    public int Count => Rank;
    public Dim this[int index] => (_dims ?? throw new InvalidOperationException("shape is unranked"))[index];

    /// <summary>True when the rank and every dimension are known.</summary>
    public bool IsStatic => _dims is not null && Array.TrueForAll(_dims, d => d.IsKnown);

    public IReadOnlyList<Dim> Dims => _dims ?? throw new InvalidOperationException("shape is unranked");

    /// <summary>The sizes; throws unless <see cref="IsStatic"/>.</summary>
    public long[] ToArray()
    {
        if (_dims is null) throw new InvalidOperationException("shape is unranked");
        var r = new long[_dims.Length];
        for (int i = 0; i < r.Length; i++) r[i] = _dims[i].Value;
        return r;
    }

    public bool TryGetStatic(out long[] dims)
    {
        if (!IsStatic) { dims = []; return false; }
        dims = ToArray();
        return true;
    }

    /// <summary>Number of elements, symbolic if any dimension is.</summary>
    public Dim ElementCount
    {
        get
        {
            Dim n = 1;
            foreach (var d in Dims) n *= d;
            return n;
        }
    }

    public Shape With(int axis, Dim dim)
    {
        var d = (Dim[])_dims!.Clone();
        d[axis] = dim;
        return new Shape(d);
    }

    public IEnumerator<Dim> GetEnumerator() => ((IEnumerable<Dim>)Dims).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public bool Equals(Shape? other)
    {
        if (other is null) return false;
        if (_dims is null || other._dims is null) return _dims is null && other._dims is null;
        return _dims.AsSpan().SequenceEqual(other._dims);
    }

    public override bool Equals(object? obj) => obj is Shape s && Equals(s);

    public override int GetHashCode()
    {
        if (_dims is null) return -1;
        var h = new HashCode();
        foreach (var d in _dims) h.Add(d);
        return h.ToHashCode();
    }

    /// <summary>Text form: [1,3,H,W], [] for a scalar, [*] when unranked.</summary>
    public override string ToString() => _dims is null ? "[*]" : "[" + string.Join(",", _dims.Select(d => d.ToString())) + "]";
}
