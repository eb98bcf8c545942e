using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>A computation generic over a numeric element type (float, double, Half, and every integer type).</summary>
public interface INumericVisitor<out TResult>
{
    TResult Visit<T>() where T : unmanaged, INumber<T>;
}

/// <summary>A computation generic over an IEEE float type (float, double, Half).</summary>
public interface IFloatVisitor<out TResult>
{
    TResult Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>;
}

/// <summary>A computation generic over an integer type.</summary>
public interface IIntegerVisitor<out TResult>
{
    TResult Visit<T>() where T : unmanaged, IBinaryInteger<T>;
}

/// <summary>A computation generic over the storage type of any element type (numbers, bool, string, bfloat16, raw small floats).</summary>
public interface IStorageVisitor<out TResult>
{
    TResult Visit<T>();
}

/// <summary>
/// Turns an element type into a type argument: the switch that lets one generic loop serve every
/// element type. Types without generic-math support (bfloat16, float8, float4) are not dispatched
/// here; drivers widen them to float32, compute, and narrow the result.
/// </summary>
public static class Dispatch
{
    public static bool IsNativeNumeric(ElementType t) => t is ElementType.Float32 or ElementType.Float64 or ElementType.Float16
        || (t.IsInteger() && t is not (ElementType.Int4 or ElementType.UInt4 or ElementType.Int2 or ElementType.UInt2));

    public static TResult Numeric<TVisitor, TResult>(ElementType t, TVisitor v) where TVisitor : INumericVisitor<TResult> => t switch
    {
        ElementType.Float32 => v.Visit<float>(),
        ElementType.Float64 => v.Visit<double>(),
        ElementType.Float16 => v.Visit<Half>(),
        ElementType.Int8 or ElementType.Int4 or ElementType.Int2 => v.Visit<sbyte>(),
        ElementType.UInt8 or ElementType.UInt4 or ElementType.UInt2 => v.Visit<byte>(),
        ElementType.Int16 => v.Visit<short>(),
        ElementType.UInt16 => v.Visit<ushort>(),
        ElementType.Int32 => v.Visit<int>(),
        ElementType.UInt32 => v.Visit<uint>(),
        ElementType.Int64 => v.Visit<long>(),
        ElementType.UInt64 => v.Visit<ulong>(),
        _ => throw new KilnException(ErrorCode.Unsupported, $"element type {t.OnnxName()} is not supported here"),
    };

    public static TResult Float<TVisitor, TResult>(ElementType t, TVisitor v) where TVisitor : IFloatVisitor<TResult> => t switch
    {
        ElementType.Float32 => v.Visit<float>(),
        ElementType.Float64 => v.Visit<double>(),
        ElementType.Float16 => v.Visit<Half>(),
        _ => throw new KilnException(ErrorCode.Unsupported, $"element type {t.OnnxName()} is not a supported float type here"),
    };

    public static TResult Integer<TVisitor, TResult>(ElementType t, TVisitor v) where TVisitor : IIntegerVisitor<TResult> => t switch
    {
        ElementType.Int8 or ElementType.Int4 or ElementType.Int2 => v.Visit<sbyte>(),
        ElementType.UInt8 or ElementType.UInt4 or ElementType.UInt2 => v.Visit<byte>(),
        ElementType.Int16 => v.Visit<short>(),
        ElementType.UInt16 => v.Visit<ushort>(),
        ElementType.Int32 => v.Visit<int>(),
        ElementType.UInt32 => v.Visit<uint>(),
        ElementType.Int64 => v.Visit<long>(),
        ElementType.UInt64 => v.Visit<ulong>(),
        _ => throw new KilnException(ErrorCode.Unsupported, $"element type {t.OnnxName()} is not an integer type"),
    };

    /// <summary>Calls the visitor with the storage type of <paramref name="t"/> (see <see cref="TensorData.ClrType"/>): for data movement, which works on any element type.</summary>
    public static TResult Storage<TVisitor, TResult>(ElementType t, TVisitor v) where TVisitor : IStorageVisitor<TResult> => t switch
    {
        ElementType.Float32 or ElementType.Complex64 => v.Visit<float>(),
        ElementType.Float64 or ElementType.Complex128 => v.Visit<double>(),
        ElementType.Float16 => v.Visit<Half>(),
        ElementType.BFloat16 => v.Visit<BFloat16>(),
        ElementType.Int8 or ElementType.Int4 or ElementType.Int2 => v.Visit<sbyte>(),
        ElementType.UInt8 or ElementType.UInt4 or ElementType.UInt2 or ElementType.Float8E4M3FN or ElementType.Float8E4M3FNUZ
            or ElementType.Float8E5M2 or ElementType.Float8E5M2FNUZ or ElementType.Float8E8M0 or ElementType.Float4E2M1 => v.Visit<byte>(),
        ElementType.Int16 => v.Visit<short>(),
        ElementType.UInt16 => v.Visit<ushort>(),
        ElementType.Int32 => v.Visit<int>(),
        ElementType.UInt32 => v.Visit<uint>(),
        ElementType.Int64 => v.Visit<long>(),
        ElementType.UInt64 => v.Visit<ulong>(),
        ElementType.Bool => v.Visit<bool>(),
        ElementType.String => v.Visit<string>(),
        _ => throw new KilnException(ErrorCode.Unsupported, $"element type {t.OnnxName()} has no host representation"),
    };
}
