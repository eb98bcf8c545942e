using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Kiln.Ir;

/// <summary>
/// A dense tensor on the host: element type, static shape, and a typed array in row-major order.
/// The array type follows the element type (float[] for f32, Half[] for f16, <see cref="BFloat16"/>[]
/// for bf16, long[] for i64, bool[] for bool, string[] for str, ...). Types ONNX packs below a byte
/// (i4, u4, i2, u2, f4e2m1) and the 8-bit floats are held one element per byte: signed integers as
/// sbyte values, unsigned integers as byte values, small floats as their raw bit patterns.
/// Complex types hold interleaved (re, im) pairs.
///
/// Ownership: a TensorData owns its array. By convention it is treated as immutable once shared
/// (constants in the IR, values in the evaluator); code that wants to write creates a new one.
/// Not thread-safe for writes.
/// </summary>
public sealed class TensorData : DataValue
{
    /// <summary>The largest element count a host tensor may have (one .NET array).</summary>
    public const long MaxElements = int.MaxValue - 1024;

    /// <summary>The largest host tensor in bytes; larger requests fail with <see cref="ErrorCode.TooLarge"/> instead of exhausting memory.</summary>
    public const long MaxBytes = 4L << 30;

    public ElementType ElementType { get; }
    public long[] Shape { get; }
    public int Rank => Shape.Length;
    public long ElementCount { get; }

    /// <summary>The typed backing array (see class remarks for the array type of each element type).</summary>
    public Array Storage { get; }

    public override IrType Type => new TensorType(ElementType, Kiln.Ir.Shape.Of(Shape));

    public TensorData(ElementType type, long[] shape, Array storage)
    {
        ElementType = type;
        Shape = shape;
        ElementCount = CheckedCount(shape);
        if (storage.GetType().GetElementType() != ClrType(type))
            throw new ArgumentException($"storage {storage.GetType().Name} does not hold {type.ShortName()} elements");
        long expected = ElementCount * (type.IsComplex() ? 2 : 1);
        if (storage.LongLength != expected)
            throw new ArgumentException($"storage has {storage.LongLength} elements, shape {FormatShape(shape)} needs {expected}");
        Storage = storage;
    }

    /// <summary>A tensor of zeros (false, empty strings).</summary>
    public static TensorData Zeros(ElementType type, params long[] shape)
    {
        long n = CheckedCount(shape) * (type.IsComplex() ? 2 : 1);
        if (n * Math.Max(1, type.StorageSize()) > MaxBytes)
            throw new KilnException(ErrorCode.TooLarge, $"a {type.ShortName()}{FormatShape(shape)} tensor would take more than {MaxBytes >> 30} GiB");
        var array = Array.CreateInstance(ClrType(type), n);
        if (type == ElementType.String) Array.Fill((string[])array, "");
        return new TensorData(type, shape, array);
    }

    public static TensorData Create<T>(ElementType type, long[] shape, T[] data) => new(type, shape, data);

    public static TensorData Scalar<T>(ElementType type, T value) => new(type, [], new[] { value });

    public static TensorData FromFloats(long[] shape, float[] data) => new(ElementType.Float32, shape, data);
    public static TensorData FromInt64s(long[] shape, long[] data) => new(ElementType.Int64, shape, data);
    public static TensorData Vector(params long[] values) => new(ElementType.Int64, [values.Length], values);

    /// <summary>The product of the dimensions; throws <see cref="KilnException"/> on negative sizes or overflow.</summary>
    public static long CheckedCount(ReadOnlySpan<long> shape)
    {
        long n = 1;
        foreach (long d in shape)
        {
            if (d < 0) throw new KilnException(ErrorCode.InvalidShape, $"negative dimension {d} in shape {FormatShape(shape)}");
            if (d != 0 && n > MaxElements / d)
                throw new KilnException(ErrorCode.TooLarge, $"tensor of shape {FormatShape(shape)} has more than {MaxElements} elements");
            n *= d;
        }
        return n;
    }

    /// <summary>The CLR element type of the backing array for an element type.</summary>
    public static Type ClrType(ElementType type) => type switch
    {
        ElementType.Float32 or ElementType.Complex64 => typeof(float),
        ElementType.Float64 or ElementType.Complex128 => typeof(double),
        ElementType.Float16 => typeof(Half),
        ElementType.BFloat16 => typeof(BFloat16),
        ElementType.Int8 or ElementType.Int4 or ElementType.Int2 => typeof(sbyte),
        ElementType.UInt8 or ElementType.UInt4 or ElementType.UInt2 => typeof(byte),
        ElementType.Float8E4M3FN or ElementType.Float8E4M3FNUZ or ElementType.Float8E5M2
            or ElementType.Float8E5M2FNUZ or ElementType.Float8E8M0 or ElementType.Float4E2M1 => typeof(byte),
        ElementType.Int16 => typeof(short),
        ElementType.UInt16 => typeof(ushort),
        ElementType.Int32 => typeof(int),
        ElementType.UInt32 => typeof(uint),
        ElementType.Int64 => typeof(long),
        ElementType.UInt64 => typeof(ulong),
        ElementType.Bool => typeof(bool),
        ElementType.String => typeof(string),
        _ => throw new KilnException(ErrorCode.Unsupported, $"element type {type} has no host representation"),
    };

    /// <summary>The elements as a span of T; T must be the storage type of <see cref="ElementType"/>.</summary>
    public Span<T> AsSpan<T>() => Data<T>().AsSpan();

    /// <summary>
    /// The backing array as T[]. The check is exact: the CLR would otherwise let a long[] pass
    /// as a ulong[] (and byte[] as sbyte[], ...), silently reinterpreting the sign.
    /// </summary>
    public T[] Data<T>() => Storage.GetType() == typeof(T[]) ? (T[])Storage
        : throw new InvalidOperationException($"{ElementType.ShortName()} tensor is not stored as {typeof(T).Name}");

    /// <summary>Raw little-endian bytes of the storage (not for strings).</summary>
    public ReadOnlySpan<byte> AsBytes() => RawBytes();

    /// <summary>Writable raw bytes of the storage; for code that fills a tensor it just created.</summary>
    public Span<byte> RawBytes() => Storage switch
    {
        float[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        double[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        Half[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        BFloat16[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        sbyte[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        byte[] a => a,
        short[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        ushort[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        int[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        uint[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        long[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        ulong[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        bool[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        _ => throw new InvalidOperationException("string tensors have no byte representation"),
    };

    /// <summary>Builds a tensor from raw little-endian storage bytes (one element per byte for sub-byte types).</summary>
    public static TensorData FromBytes(ElementType type, long[] shape, ReadOnlySpan<byte> bytes)
    {
        var t = Zeros(type, shape);
        var dst = t.RawBytes();
        if (bytes.Length != dst.Length)
            throw new KilnException(ErrorCode.InvalidData, $"{type.ShortName()}{FormatShape(shape)} needs {dst.Length} bytes, got {bytes.Length}");
        bytes.CopyTo(dst);
        if (type == ElementType.Bool)
        {
            // Normalize: any nonzero byte is true.
            var b = t.AsSpan<bool>();
            var raw = MemoryMarshal.AsBytes(b);
            for (int i = 0; i < raw.Length; i++) raw[i] = raw[i] != 0 ? (byte)1 : (byte)0;
        }
        return t;
    }

    /// <summary>A tensor with the same elements and a new shape of the same element count.</summary>
    public TensorData Reshape(long[] shape) => new(ElementType, shape, Storage);

    public TensorData Clone() => new(ElementType, (long[])Shape.Clone(), (Array)Storage.Clone());

    // The arms below test the element type, not the array type: the CLR lets a byte[] pass for an
    // sbyte[] (and ushort[] for short[], uint[] for int[], ulong[] for long[]) and back.

    /// <summary>Element i converted to double (small floats decoded; bool as 0/1). For slow generic paths.</summary>
    public double GetDouble(long i) => ElementType switch
    {
        ElementType.Float32 or ElementType.Complex64 => ((float[])Storage)[i],
        ElementType.Float64 or ElementType.Complex128 => ((double[])Storage)[i],
        ElementType.Float16 => (double)((Half[])Storage)[i],
        ElementType.BFloat16 => (float)((BFloat16[])Storage)[i],
        _ when ElementType.IsSmallFloat() => SmallFloat.ToFloat(((byte[])Storage)[i], ElementType),
        ElementType.Bool => ((bool[])Storage)[i] ? 1 : 0,
        ElementType.UInt64 => ((ulong[])Storage)[i],
        _ when ElementType.IsInteger() => GetInt64(i),
        _ => throw new InvalidOperationException($"{ElementType.ShortName()} elements are not numbers"),
    };

    /// <summary>Element i as a 64-bit integer (integers and bool exactly, uint64 wrapping; floats truncated).</summary>
    public long GetInt64(long i) => ElementType switch
    {
        ElementType.Int64 => ((long[])Storage)[i],
        ElementType.UInt64 => (long)((ulong[])Storage)[i],
        ElementType.Int32 => ((int[])Storage)[i],
        ElementType.UInt32 => ((uint[])Storage)[i],
        ElementType.Int16 => ((short[])Storage)[i],
        ElementType.UInt16 => ((ushort[])Storage)[i],
        ElementType.Int8 or ElementType.Int4 or ElementType.Int2 => ((sbyte[])Storage)[i],
        ElementType.UInt8 or ElementType.UInt4 or ElementType.UInt2 => ((byte[])Storage)[i],
        ElementType.Bool => ((bool[])Storage)[i] ? 1 : 0,
        _ => (long)GetDouble(i),
    };

    /// <summary>All elements as 64-bit integers (for shape-like inputs: shapes, axes, indices).</summary>
    public long[] ToInt64Array()
    {
        var r = new long[ElementCount];
        for (long i = 0; i < r.LongLength; i++) r[i] = GetInt64(i);
        return r;
    }

    public static string FormatShape(ReadOnlySpan<long> shape)
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < shape.Length; i++)
        {
            if (i > 0) sb.Append(',');
            sb.Append(shape[i].ToString(CultureInfo.InvariantCulture));
        }
        return sb.Append(']').ToString();
    }

    /// <summary>Exact equality: type, shape and the bits of every element.</summary>
    public bool BitwiseEquals(TensorData other)
    {
        if (other.ElementType != ElementType || !other.Shape.AsSpan().SequenceEqual(Shape)) return false;
        if (Storage is string[] s) return s.AsSpan().SequenceEqual((string[])other.Storage);
        return AsBytes().SequenceEqual(other.AsBytes());
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(ElementType.ShortName()).Append(FormatShape(Shape)).Append(' ');
        int n = (int)Math.Min(ElementCount, 8);
        sb.Append('[');
        for (int i = 0; i < n; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(Storage is string[] s ? $"\"{s[i]}\"" : GetDouble(i).ToString("G6", CultureInfo.InvariantCulture));
        }
        if (ElementCount > n) sb.Append(", ...");
        return sb.Append(']').ToString();
    }
}
