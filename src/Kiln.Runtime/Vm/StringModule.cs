using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Kiln.Runtime.Format;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Text;

namespace Kiln.Runtime.Vm;

/// <summary>
/// The "str" native module: string tensors (<see cref="StringTensor"/>) for host programs. A string
/// tensor lives in an object register; every operation returns a new one. Constant strings (a
/// constant tensor's elements, a pattern, stopwords, a LabelEncoder's keys or values) are lists of
/// the module's string-list table, named by index and checked here against the table. Where an
/// operation mixes strings and numbers, the numbers are tensors (views): results are made in new
/// buffers written on the host (they are new, so no recorded work touches them), and numeric
/// operands are read after the invocation's pending work (a flush). Case changes use the invariant
/// culture, as the reference evaluator does. (V = value arguments, R = object arguments.)
/// </summary>
internal static unsafe class StringModule
{
    public static NativeModule Create() => new("str",
    [
        // constant(V list, V dims...) -> R string tensor: a constant list in that shape
        new("constant", 1, 0, 0, 1, ImportFlags.VariadicValues, new NativeFunction(Constant)),
        // check(R string tensor; V rank): fails unless the object is a string tensor of that rank
        new("check", 1, 1, 0, 0, ImportFlags.None, new NativeFunction(Check)),
        // dim(R string tensor; V axis) -> V size
        new("dim", 1, 1, 1, 0, ImportFlags.None, new NativeFunction(Dim)),
        // concat(R a, R b) -> R: a + b elementwise, broadcast
        new("concat", 0, 2, 0, 1, ImportFlags.None, new NativeFunction(Concat)),
        // equal(R a, R b) -> R bool view: a == b elementwise (ordinal), broadcast
        new("equal", 0, 2, 0, 1, ImportFlags.None, new NativeFunction(Equal)),
        // regex_full_match(R x; V pattern list) -> R bool view: an RE2 pattern matching each string as a whole
        new("regex_full_match", 1, 1, 0, 1, ImportFlags.None, new NativeFunction(RegexFullMatch)),
        // normalize(R x; V stopwords list or -1, V case sensitive, V case action: 0 none, 1 lower, 2 upper) -> R
        new("normalize", 3, 1, 0, 1, ImportFlags.None, new NativeFunction(Normalize)),
        // split(R x; V delimiter list or -1 (whitespace), V maxsplit (negative: no limit)) -> R pieces, R int64 counts view
        new("split", 2, 1, 0, 2, ImportFlags.None, new NativeFunction(Split)),
        // label_encoder(R x, R keys, R values, R default) -> R: each a string tensor or a numeric view
        new("label_encoder", 0, 4, 0, 1, ImportFlags.None, new NativeFunction(LabelEncoder)),
    ]);

    private static KilnRuntimeException Bad(string message) => new(StatusCode.InvalidArgument, message);

    /// <summary>A constant list of the module, checked against the table (a module's bytecode is not trusted to pass a valid index).</summary>
    private static string[] List(ref NativeCall c, long index, string what)
    {
        var lists = c.Invocation.Context.StringLists;
        if ((ulong)index >= (ulong)lists.Length) throw new KilnRuntimeException(StatusCode.OutOfRange, $"{what}: string list {index} of {lists.Length}");
        return lists[index];
    }

    /// <summary>A single string of a one-string list (a pattern, a delimiter), or null for list -1.</summary>
    private static string? Single(ref NativeCall c, long index, string what)
    {
        if (index == -1) return null;
        var list = List(ref c, index, what);
        if (list.Length != 1) throw Bad($"{what}: string list {index} holds {list.Length} strings, one expected");
        return list[0];
    }

    private static void Constant(ref NativeCall c)
    {
        var list = List(ref c, c.Values[0], "str.constant");
        int rank = c.Values.Length - 1;
        if (rank > ModuleFormat.MaxRank) throw Bad($"str.constant: rank {rank} exceeds {ModuleFormat.MaxRank}");
        var shape = c.Values[1..].ToArray();
        if (BufferView.CheckedCount(shape) != list.Length)
            throw Bad($"str.constant: string list {c.Values[0]} holds {list.Length} strings, shape {BufferView.FormatShape(shape)} needs {BufferView.CheckedCount(shape)}");
        c.RefResults[0] = StringTensor.Own(list, shape); // lists are never changed: tensors share them
    }

    private static void Check(ref NativeCall c)
    {
        if (c.Refs[0] is not StringTensor s) throw Bad($"str.check: expected a string tensor, got {Describe(c.Refs[0])}");
        if (s.Rank != c.Values[0]) throw Bad($"string tensor {s} must have rank {c.Values[0]}");
    }

    private static void Dim(ref NativeCall c)
    {
        var s = c.Ref<StringTensor>(0, "str.dim");
        long axis = c.Values[0];
        if ((ulong)axis >= (ulong)s.Rank) throw new KilnRuntimeException(StatusCode.OutOfRange, $"str.dim: axis {axis} of a rank-{s.Rank} tensor");
        c.ValueResults[0] = s.Shape[(int)axis];
    }

    private static void Concat(ref NativeCall c)
    {
        var a = c.Ref<StringTensor>(0, "str.concat");
        var b = c.Ref<StringTensor>(1, "str.concat");
        var shape = BroadcastShape(a.Shape, b.Shape, "str.concat");
        var (ia, ib) = BroadcastIndices(ref c, a.Shape, b.Shape, shape, "str.concat");
        var result = new string[ia.Length];
        for (int i = 0; i < result.Length; i++) result[i] = string.Concat(a[ia[i]], b[ib[i]]);
        c.RefResults[0] = StringTensor.Own(result, shape);
    }

    private static void Equal(ref NativeCall c)
    {
        var a = c.Ref<StringTensor>(0, "str.equal");
        var b = c.Ref<StringTensor>(1, "str.equal");
        var shape = BroadcastShape(a.Shape, b.Shape, "str.equal");
        var (ia, ib) = BroadcastIndices(ref c, a.Shape, b.Shape, shape, "str.equal");
        var result = NewView(ref c, DType.Bool, shape, "str.equal");
        byte* p = result.Buffer.Pointer;
        for (int i = 0; i < ia.Length; i++) p[i] = string.Equals(a[ia[i]], b[ib[i]], StringComparison.Ordinal) ? (byte)1 : (byte)0;
        c.RefResults[0] = result;
    }

    private static void RegexFullMatch(ref NativeCall c)
    {
        var x = c.Ref<StringTensor>(0, "str.regex_full_match");
        var regex = Pattern(ref c, c.Values[0]);
        var result = NewView(ref c, DType.Bool, x.Shape.ToArray(), "str.regex_full_match");
        byte* p = result.Buffer.Pointer;
        for (long i = 0; i < x.ElementCount; i++) p[i] = regex.IsMatch(x[i]) ? (byte)1 : (byte)0;
        c.RefResults[0] = result;
    }

    /// <summary>The pattern of a one-string list, compiled once per context (racing first uses compile the same regex; one wins).</summary>
    private static Regex Pattern(ref NativeCall c, long list)
    {
        string pattern = Single(ref c, list, "str.regex_full_match") ?? throw Bad("str.regex_full_match: no pattern");
        var slots = c.Invocation.Context.Patterns;
        if (Volatile.Read(ref slots[list]) is { } cached) return cached;
        Regex regex;
        try { regex = Re2Translation.FullMatch(pattern); }
        catch (ArgumentException e) { throw Bad($"str.regex_full_match: invalid pattern \"{pattern}\": {e.Message}"); }
        return Interlocked.CompareExchange(ref slots[list], regex, null) ?? regex;
    }

    private static void Normalize(ref NativeCall c)
    {
        var x = c.Ref<StringTensor>(0, "str.normalize");
        if (x.Rank is not (1 or 2) || (x.Rank == 2 && x.Shape[0] != 1))
            throw Bad($"str.normalize: the input must be [C] or [1, C], got {x}");
        var comparer = c.Values[1] != 0 ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase;
        var stopwords = new HashSet<string>(c.Values[0] == -1 ? [] : List(ref c, c.Values[0], "str.normalize"), comparer);
        long action = c.Values[2];
        if (action is < 0 or > 2) throw Bad($"str.normalize: unknown case action {action}");
        var kept = new List<string>();
        foreach (var s in x.Elements)
        {
            if (stopwords.Contains(s)) continue;
            kept.Add(action switch { 1 => s.ToLowerInvariant(), 2 => s.ToUpperInvariant(), _ => s });
        }
        if (kept.Count == 0) kept.Add(""); // everything removed: one empty string
        long[] shape = x.Rank == 1 ? [kept.Count] : [1, kept.Count];
        c.RefResults[0] = StringTensor.Own(kept.ToArray(), shape);
    }

    /// <summary>Python's str.split: on the delimiter, or on runs of whitespace without one; at most maxsplit splits.</summary>
    private static void Split(ref NativeCall c)
    {
        var x = c.Ref<StringTensor>(0, "str.split");
        string? delimiter = Single(ref c, c.Values[0], "str.split");
        long maxSplit = c.Values[1] < 0 ? long.MaxValue : c.Values[1];
        var pieces = new List<string>[x.ElementCount];
        long width = 0;
        for (long i = 0; i < pieces.Length; i++)
        {
            pieces[i] = string.IsNullOrEmpty(delimiter) ? SplitOnWhitespace(x[i], maxSplit) : SplitOn(x[i], delimiter, maxSplit);
            width = Math.Max(width, pieces[i].Count);
        }
        var shape = new long[x.Rank + 1];
        x.Shape.CopyTo(shape);
        shape[^1] = width;
        long count = BufferView.CheckedCount(shape);
        CheckElements(ref c, count, IntPtr.Size, "str.split");
        var result = new string[count];
        Array.Fill(result, "");
        var counts = NewView(ref c, DType.Int64, x.Shape.ToArray(), "str.split");
        for (int i = 0; i < pieces.Length; i++)
        {
            pieces[i].CopyTo(result, (int)(i * width));
            Unsafe.WriteUnaligned(counts.Buffer.Pointer + i * 8L, (long)pieces[i].Count);
        }
        c.RefResults[0] = StringTensor.Own(result, shape);
        c.RefResults[1] = counts;
    }

    private static List<string> SplitOn(string s, string delimiter, long maxSplit)
    {
        var result = new List<string>();
        int start = 0;
        for (int at; result.Count < maxSplit && (at = s.IndexOf(delimiter, start, StringComparison.Ordinal)) >= 0; start = at + delimiter.Length)
            result.Add(s[start..at]);
        result.Add(s[start..]);
        return result;
    }

    private static List<string> SplitOnWhitespace(string s, long maxSplit)
    {
        var result = new List<string>();
        int i = 0;
        while (true)
        {
            while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
            if (i == s.Length) return result;
            if (result.Count == maxSplit)
            {
                result.Add(s[i..]); // the rest, as one piece, keeps its inner and trailing whitespace
                return result;
            }
            int start = i;
            while (i < s.Length && !char.IsWhiteSpace(s[i])) i++;
            result.Add(s[start..i]);
        }
    }

    /// <summary>
    /// LabelEncoder: each element of x found among the keys becomes the value at the key's position
    /// (the first, for a repeated key), others the default. Keys are of x's kind and dtype (strings
    /// by ordinal text, integers exactly, floats by value with NaN matching NaN); values and the
    /// one-element default are of one kind and dtype, which the result takes.
    /// </summary>
    private static void LabelEncoder(ref NativeCall c)
    {
        const string what = "str.label_encoder";
        object x = c.Refs[0] ?? throw Bad($"{what}: the input is none");
        object keys = c.Refs[1] ?? throw Bad($"{what}: the keys are none");
        object values = c.Refs[2] ?? throw Bad($"{what}: the values are none");
        object fallback = c.Refs[3] ?? throw Bad($"{what}: the default is none");
        if (x is BufferView || keys is BufferView || values is BufferView || fallback is BufferView) c.Invocation.Flush();
        long keyCount = Count(keys, what), valueCount = Count(values, what);
        if (keyCount != valueCount) throw Bad($"{what}: {keyCount} keys but {valueCount} values");
        if (Count(fallback, what) != 1) throw Bad($"{what}: the default must hold one value, got {Describe(fallback)}");
        var positions = Positions(x, keys, what);

        switch (values, fallback)
        {
            case (StringTensor v, StringTensor d):
            {
                var result = new string[positions.Length];
                for (int i = 0; i < result.Length; i++) result[i] = positions[i] >= 0 ? v[positions[i]] : d[0];
                c.RefResults[0] = StringTensor.Own(result, Shape(x));
                break;
            }
            case (BufferView v, BufferView d) when v.DType == d.DType && v.DType != DType.String:
            {
                int size = v.DType.Size();
                var result = NewView(ref c, v.DType, Shape(x), what);
                byte* to = result.Buffer.Pointer, from = v.Buffer.Pointer + v.Offset, other = d.Buffer.Pointer + d.Offset;
                for (long i = 0; i < positions.Length; i++)
                    System.Buffer.MemoryCopy(positions[i] >= 0 ? from + positions[i] * size : other, to + i * size, size, size);
                c.RefResults[0] = result;
                break;
            }
            default: throw Bad($"{what}: values {Describe(values)} and default {Describe(fallback)} must be of one kind and dtype");
        }
    }

    /// <summary>For each element of x, the position of the first equal key, or -1.</summary>
    private static long[] Positions(object x, object keys, string what)
    {
        long n = Count(x, what);
        var positions = new long[n];
        switch (x, keys)
        {
            case (StringTensor s, StringTensor k):
            {
                var table = new Dictionary<string, long>(StringComparer.Ordinal);
                for (long i = 0; i < k.ElementCount; i++) table.TryAdd(k[i], i);
                for (long i = 0; i < n; i++) positions[i] = table.TryGetValue(s[i], out long p) ? p : -1;
                break;
            }
            case (BufferView v, BufferView k) when v.DType == k.DType && IsFloat(v.DType):
            {
                var table = new Dictionary<double, long>(); // double equality: NaN matches NaN
                for (long i = 0; i < k.ElementCount; i++) table.TryAdd(ReadFloat(k, i), i);
                for (long i = 0; i < n; i++) positions[i] = table.TryGetValue(ReadFloat(v, i), out long p) ? p : -1;
                break;
            }
            case (BufferView v, BufferView k) when v.DType == k.DType:
            {
                var table = new Dictionary<long, long>();
                for (long i = 0; i < k.ElementCount; i++) table.TryAdd(ReadInteger(k, i, what), i);
                for (long i = 0; i < n; i++) positions[i] = table.TryGetValue(ReadInteger(v, i, what), out long p) ? p : -1;
                break;
            }
            default: throw Bad($"{what}: the input {Describe(x)} and the keys {Describe(keys)} must be of one kind and dtype");
        }
        return positions;
    }

    private static long Count(object value, string what) => value switch
    {
        StringTensor s => s.ElementCount,
        BufferView v => v.ElementCount,
        _ => throw Bad($"{what}: expected a string tensor or a tensor, got {Describe(value)}"),
    };

    private static long[] Shape(object value) => value is StringTensor s ? s.Shape.ToArray() : ((BufferView)value).Shape.ToArray();

    private static bool IsFloat(DType t) => t is DType.Float32 or DType.Float64 or DType.Float16 or DType.BFloat16;

    private static double ReadFloat(BufferView v, long i)
    {
        byte* p = v.Buffer.Pointer + v.Offset + i * v.DType.Size();
        return v.DType switch
        {
            DType.Float32 => Unsafe.ReadUnaligned<float>(p),
            DType.Float64 => Unsafe.ReadUnaligned<double>(p),
            DType.Float16 => (double)Unsafe.ReadUnaligned<Half>(p),
            _ => BitConverter.Int32BitsToSingle(Unsafe.ReadUnaligned<ushort>(p) << 16), // bfloat16
        };
    }

    private static long ReadInteger(BufferView v, long i, string what)
    {
        byte* p = v.Buffer.Pointer + v.Offset + i * v.DType.Size();
        return v.DType switch
        {
            DType.Int64 or DType.UInt64 => Unsafe.ReadUnaligned<long>(p),
            DType.Int32 => Unsafe.ReadUnaligned<int>(p),
            DType.UInt32 => Unsafe.ReadUnaligned<uint>(p),
            DType.Int16 => Unsafe.ReadUnaligned<short>(p),
            DType.UInt16 => Unsafe.ReadUnaligned<ushort>(p),
            DType.Int8 => *(sbyte*)p,
            DType.UInt8 or DType.Bool => *p,
            _ => throw new KilnRuntimeException(StatusCode.Unsupported, $"{what}: {v.DType.Name()} keys are not supported"),
        };
    }

    /// <summary>The broadcast shape of two shapes (numpy rules).</summary>
    private static long[] BroadcastShape(ReadOnlySpan<long> a, ReadOnlySpan<long> b, string what)
    {
        int rank = Math.Max(a.Length, b.Length);
        var shape = new long[rank];
        for (int d = 0; d < rank; d++)
        {
            int da = d - (rank - a.Length), db = d - (rank - b.Length);
            long x = da >= 0 ? a[da] : 1, y = db >= 0 ? b[db] : 1;
            if (x == y || y == 1) shape[d] = x;
            else if (x == 1) shape[d] = y;
            else throw Bad($"{what}: shapes {BufferView.FormatShape(a)} and {BufferView.FormatShape(b)} do not broadcast");
        }
        return shape;
    }

    /// <summary>For each element of the broadcast result, the element of a and of b it reads.</summary>
    private static (long[] A, long[] B) BroadcastIndices(ref NativeCall c, ReadOnlySpan<long> a, ReadOnlySpan<long> b, long[] shape, string what)
    {
        long n = BufferView.CheckedCount(shape);
        CheckElements(ref c, n, 2 * sizeof(long) + IntPtr.Size, what);
        var sa = Strides(a, shape.Length);
        var sb = Strides(b, shape.Length);
        var ia = new long[n];
        var ib = new long[n];
        for (long i = 0; i < n; i++)
        {
            long rest = i, ja = 0, jb = 0;
            for (int d = shape.Length - 1; d >= 0; d--)
            {
                long coord = rest % shape[d];
                rest /= shape[d];
                ja += coord * sa[d];
                jb += coord * sb[d];
            }
            ia[i] = ja;
            ib[i] = jb;
        }
        return (ia, ib);
    }

    /// <summary>Row-major strides of a shape aligned to the right of a rank, 0 where it is broadcast.</summary>
    private static long[] Strides(ReadOnlySpan<long> shape, int rank)
    {
        var strides = new long[rank];
        long step = 1;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            strides[d + rank - shape.Length] = shape[d] == 1 ? 0 : step;
            step *= shape[d];
        }
        return strides;
    }

    /// <summary>Host arrays of <paramref name="count"/> elements fit .NET arrays and the context's allocation limit.</summary>
    private static void CheckElements(ref NativeCall c, long count, int bytesPerElement, string what)
    {
        if (count > Array.MaxLength || count > long.MaxValue / bytesPerElement)
            throw new KilnRuntimeException(StatusCode.ResourceExhausted, $"{what}: {count} elements are too many");
        c.Invocation.CheckAllocation(count * bytesPerElement, what);
    }

    private static BufferView NewView(ref NativeCall c, DType dtype, long[] shape, string what)
    {
        long bytes = BufferView.CheckedCount(shape) * dtype.Size();
        c.Invocation.CheckAllocation(bytes, what);
        return new BufferView(DeviceBuffer.AllocateManaged(bytes), 0, dtype, shape);
    }

    private static string Describe(object? value) => value switch
    {
        null => "none",
        StringTensor s => $"a string tensor {s}",
        BufferView v => $"a tensor {v}",
        _ => $"a {value.GetType().Name}",
    };
}
