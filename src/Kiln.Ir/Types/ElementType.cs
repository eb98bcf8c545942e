namespace Kiln.Ir;

/// <summary>
/// The element type of a tensor. The numeric values are ONNX's TensorProto.DataType codes, so a
/// type read from a model or written to a module needs no translation table.
/// </summary>
public enum ElementType : byte
{
    Undefined = 0,
    Float32 = 1,
    UInt8 = 2,
    Int8 = 3,
    UInt16 = 4,
    Int16 = 5,
    Int32 = 6,
    Int64 = 7,
    String = 8,
    Bool = 9,
    Float16 = 10,
    Float64 = 11,
    UInt32 = 12,
    UInt64 = 13,
    Complex64 = 14,
    Complex128 = 15,
    BFloat16 = 16,
    Float8E4M3FN = 17,
    Float8E4M3FNUZ = 18,
    Float8E5M2 = 19,
    Float8E5M2FNUZ = 20,
    UInt4 = 21,
    Int4 = 22,
    Float4E2M1 = 23,
    Float8E8M0 = 24,
    UInt2 = 25,
    Int2 = 26,
}

/// <summary>Facts about each <see cref="ElementType"/>: sizes, classes and the short names of the text form.</summary>
public static class ElementTypes
{
    /// <summary>The highest code defined.</summary>
    public const ElementType Last = ElementType.Int2;

    public static bool IsDefined(int code) => code >= 1 && code <= (int)Last;

    /// <summary>Width of one element in bits as ONNX stores it (4 for int4, 2 for int2; 0 for strings).</summary>
    public static int BitWidth(this ElementType t) => t switch
    {
        ElementType.Bool or ElementType.UInt8 or ElementType.Int8 => 8,
        ElementType.Float8E4M3FN or ElementType.Float8E4M3FNUZ or ElementType.Float8E5M2
            or ElementType.Float8E5M2FNUZ or ElementType.Float8E8M0 => 8,
        ElementType.UInt16 or ElementType.Int16 or ElementType.Float16 or ElementType.BFloat16 => 16,
        ElementType.UInt32 or ElementType.Int32 or ElementType.Float32 => 32,
        ElementType.UInt64 or ElementType.Int64 or ElementType.Float64 or ElementType.Complex64 => 64,
        ElementType.Complex128 => 128,
        ElementType.UInt4 or ElementType.Int4 or ElementType.Float4E2M1 => 4,
        ElementType.UInt2 or ElementType.Int2 => 2,
        _ => 0,
    };

    /// <summary>
    /// Bytes one element takes in a host tensor (<see cref="TensorData"/>). Sub-byte types are held
    /// unpacked, one element per byte, so every element is addressable; they are packed only in files.
    /// </summary>
    public static int StorageSize(this ElementType t) => t == ElementType.String ? 0 : Math.Max(1, t.BitWidth() / 8);

    public static bool IsFloat(this ElementType t) => t is ElementType.Float32 or ElementType.Float64
        or ElementType.Float16 or ElementType.BFloat16 or ElementType.Float8E4M3FN or ElementType.Float8E4M3FNUZ
        or ElementType.Float8E5M2 or ElementType.Float8E5M2FNUZ or ElementType.Float4E2M1 or ElementType.Float8E8M0;

    /// <summary>Float types narrower than 32 bits, computed by widening to float32.</summary>
    public static bool IsSmallFloat(this ElementType t) => t.IsFloat() && t is not (ElementType.Float32 or ElementType.Float64);

    public static bool IsSignedInteger(this ElementType t) => t is ElementType.Int8 or ElementType.Int16
        or ElementType.Int32 or ElementType.Int64 or ElementType.Int4 or ElementType.Int2;

    public static bool IsUnsignedInteger(this ElementType t) => t is ElementType.UInt8 or ElementType.UInt16
        or ElementType.UInt32 or ElementType.UInt64 or ElementType.UInt4 or ElementType.UInt2;

    public static bool IsInteger(this ElementType t) => t.IsSignedInteger() || t.IsUnsignedInteger();

    public static bool IsNumeric(this ElementType t) => t.IsFloat() || t.IsInteger();

    public static bool IsComplex(this ElementType t) => t is ElementType.Complex64 or ElementType.Complex128;

    /// <summary>The name used in the IR's text form (f32, i64, bf16, f8e4m3fn, ...).</summary>
    public static string ShortName(this ElementType t) => t switch
    {
        ElementType.Float32 => "f32",
        ElementType.UInt8 => "u8",
        ElementType.Int8 => "i8",
        ElementType.UInt16 => "u16",
        ElementType.Int16 => "i16",
        ElementType.Int32 => "i32",
        ElementType.Int64 => "i64",
        ElementType.String => "str",
        ElementType.Bool => "bool",
        ElementType.Float16 => "f16",
        ElementType.Float64 => "f64",
        ElementType.UInt32 => "u32",
        ElementType.UInt64 => "u64",
        ElementType.Complex64 => "c64",
        ElementType.Complex128 => "c128",
        ElementType.BFloat16 => "bf16",
        ElementType.Float8E4M3FN => "f8e4m3fn",
        ElementType.Float8E4M3FNUZ => "f8e4m3fnuz",
        ElementType.Float8E5M2 => "f8e5m2",
        ElementType.Float8E5M2FNUZ => "f8e5m2fnuz",
        ElementType.UInt4 => "u4",
        ElementType.Int4 => "i4",
        ElementType.Float4E2M1 => "f4e2m1",
        ElementType.Float8E8M0 => "f8e8m0",
        ElementType.UInt2 => "u2",
        ElementType.Int2 => "i2",
        _ => "undefined",
    };

    private static readonly Dictionary<string, ElementType> ByShortName =
        Enum.GetValues<ElementType>().Where(t => t != ElementType.Undefined).ToDictionary(t => t.ShortName());

    public static bool TryParseShortName(string name, out ElementType type) => ByShortName.TryGetValue(name, out type);

    /// <summary>The ONNX spelling (float, int64, bfloat16, float8e4m3fn, ...), used in messages.</summary>
    public static string OnnxName(this ElementType t) => t switch
    {
        ElementType.Float32 => "float",
        ElementType.Float64 => "double",
        ElementType.Float16 => "float16",
        _ => t.ToString().ToLowerInvariant(),
    };
}
