namespace Kiln.Runtime;

/// <summary>
/// Element type of a runtime tensor. The codes are ONNX's TensorProto.DataType codes (the same
/// numbers the compiler uses), so module files need no translation table. The runtime has its own
/// enum because it depends on nothing but the base library.
/// </summary>
public enum DType : byte
{
    Float32 = 1, UInt8 = 2, Int8 = 3, UInt16 = 4, Int16 = 5, Int32 = 6, Int64 = 7, String = 8, Bool = 9,
    Float16 = 10, Float64 = 11, UInt32 = 12, UInt64 = 13, Complex64 = 14, Complex128 = 15, BFloat16 = 16,
    Float8E4M3FN = 17, Float8E4M3FNUZ = 18, Float8E5M2 = 19, Float8E5M2FNUZ = 20, UInt4 = 21, Int4 = 22,
    Float4E2M1 = 23, Float8E8M0 = 24, UInt2 = 25, Int2 = 26,
}

public static class DTypes
{
    /// <summary>True for codes the runtime knows (strings are not runtime tensors).</summary>
    public static bool IsValid(int code) => code is >= 1 and <= 26 && code != (int)DType.String;

    /// <summary>Bytes per element in runtime buffers (sub-byte types are stored one per byte).</summary>
    public static int Size(this DType t) => t switch
    {
        DType.Float64 or DType.Int64 or DType.UInt64 or DType.Complex64 => 8,
        DType.Complex128 => 16,
        DType.Float32 or DType.Int32 or DType.UInt32 => 4,
        DType.Float16 or DType.BFloat16 or DType.Int16 or DType.UInt16 => 2,
        _ => 1,
    };

    public static string Name(this DType t) => t switch
    {
        DType.Float32 => "float32",
        DType.Float64 => "float64",
        DType.Float16 => "float16",
        _ => t.ToString().ToLowerInvariant(),
    };

    /// <summary>The DType whose storage is the CLR type T (float → Float32, ...), for typed API calls.</summary>
    public static DType Of<T>() where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return DType.Float32;
        if (typeof(T) == typeof(double)) return DType.Float64;
        if (typeof(T) == typeof(Half)) return DType.Float16;
        if (typeof(T) == typeof(long)) return DType.Int64;
        if (typeof(T) == typeof(int)) return DType.Int32;
        if (typeof(T) == typeof(short)) return DType.Int16;
        if (typeof(T) == typeof(sbyte)) return DType.Int8;
        if (typeof(T) == typeof(byte)) return DType.UInt8;
        if (typeof(T) == typeof(ushort)) return DType.UInt16;
        if (typeof(T) == typeof(uint)) return DType.UInt32;
        if (typeof(T) == typeof(ulong)) return DType.UInt64;
        if (typeof(T) == typeof(bool)) return DType.Bool;
        throw new KilnRuntimeException(StatusCode.InvalidArgument, $"{typeof(T).Name} is not a tensor element type");
    }
}
