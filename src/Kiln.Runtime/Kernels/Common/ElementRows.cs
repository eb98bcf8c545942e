using System.Numerics;
using System.Numerics.Tensors;
using Kiln.Runtime.Kernels.Elementwise;

namespace Kiln.Runtime.Kernels;

/// <summary>
/// Contiguous runs of tensor elements converted to and from the types kernels compute in (float,
/// double, long, ulong). A load reads the elements in place when their storage already is the
/// compute type, and converts into the caller's buffer otherwise; a store converts with ONNX Cast
/// semantics (rounding to nearest for floats, truncation and wrapping for integers, nonzero for
/// bool). Bool loads as 0/1, bfloat16 and float16 through float32.
/// </summary>
internal static unsafe class ElementRows
{
    /// <summary>True when elements of <paramref name="dtype"/> are stored as T, so they can be read in place.</summary>
    public static bool StoredAs<T>(DType dtype) where T : unmanaged =>
        (typeof(T) == typeof(float) && dtype == DType.Float32) || (typeof(T) == typeof(double) && dtype == DType.Float64)
        || (typeof(T) == typeof(long) && dtype == DType.Int64) || (typeof(T) == typeof(ulong) && dtype == DType.UInt64);

    /// <summary>The n elements at <paramref name="src"/> as T: in place, or converted into <paramref name="buffer"/>.</summary>
    public static ReadOnlySpan<T> Load<T>(DType dtype, byte* src, int n, Span<T> buffer) where T : unmanaged, INumberBase<T>
    {
        if (StoredAs<T>(dtype)) return new ReadOnlySpan<T>(src, n);
        var dst = buffer[..n];
        switch (dtype)
        {
            case DType.Float32: Convert<float, T>(src, dst); break;
            case DType.Float64: Convert<double, T>(src, dst); break;
            case DType.Float16: Convert<Half, T>(src, dst); break;
            case DType.BFloat16:
                for (int i = 0; i < n; i++) dst[i] = T.CreateTruncating(ScalarMath.ToBFloat16Float(((ushort*)src)[i]));
                break;
            case DType.Int8: Convert<sbyte, T>(src, dst); break;
            case DType.Int16: Convert<short, T>(src, dst); break;
            case DType.UInt16: Convert<ushort, T>(src, dst); break;
            case DType.Int32: Convert<int, T>(src, dst); break;
            case DType.UInt32: Convert<uint, T>(src, dst); break;
            case DType.Int64: Convert<long, T>(src, dst); break;
            case DType.UInt64: Convert<ulong, T>(src, dst); break;
            case DType.Bool: for (int i = 0; i < n; i++) dst[i] = src[i] != 0 ? T.One : T.Zero; break;
            case DType.UInt8: Convert<byte, T>(src, dst); break;
            default: throw new KilnRuntimeException(StatusCode.Unsupported, $"cannot compute on {dtype.Name()} elements");
        }
        return dst;
    }

    /// <summary>One element at <paramref name="src"/> as T.</summary>
    public static T LoadOne<T>(DType dtype, byte* src) where T : unmanaged, INumberBase<T>
    {
        T value = default;
        return Load(dtype, src, 1, new Span<T>(&value, 1))[0];
    }

    /// <summary>Writes <paramref name="values"/> as elements of <paramref name="dtype"/> at <paramref name="dst"/>.</summary>
    public static void Store<T>(ReadOnlySpan<T> values, DType dtype, byte* dst) where T : unmanaged, INumberBase<T>
    {
        int n = values.Length;
        if (StoredAs<T>(dtype)) { values.CopyTo(new Span<T>(dst, n)); return; }
        switch (dtype)
        {
            case DType.Float32: Convert<T, float>(values, dst); break;
            case DType.Float64: Convert<T, double>(values, dst); break;
            case DType.Float16: Convert<T, Half>(values, dst); break;
            case DType.BFloat16:
                for (int i = 0; i < n; i++) ((ushort*)dst)[i] = ScalarMath.FromFloatToBFloat16(float.CreateTruncating(values[i]));
                break;
            case DType.Int8: Convert<T, sbyte>(values, dst); break;
            case DType.Int16: Convert<T, short>(values, dst); break;
            case DType.UInt16: Convert<T, ushort>(values, dst); break;
            case DType.Int32: Convert<T, int>(values, dst); break;
            case DType.UInt32: Convert<T, uint>(values, dst); break;
            case DType.Int64: Convert<T, long>(values, dst); break;
            case DType.UInt64: Convert<T, ulong>(values, dst); break;
            case DType.Bool: for (int i = 0; i < n; i++) dst[i] = values[i] != T.Zero ? (byte)1 : (byte)0; break;
            case DType.UInt8: Convert<T, byte>(values, dst); break;
            default: throw new KilnRuntimeException(StatusCode.Unsupported, $"cannot store {dtype.Name()} elements");
        }
    }

    public static void StoreOne<T>(T value, DType dtype, byte* dst) where T : unmanaged, INumberBase<T> =>
        Store(new ReadOnlySpan<T>(&value, 1), dtype, dst);

    /// <summary>Writes a value saturated into the range of <paramref name="dtype"/> (-inf becomes an integer type's minimum, NaN 0).</summary>
    public static void StoreSaturating(double value, DType dtype, byte* dst)
    {
        switch (dtype)
        {
            case DType.Int8: *(sbyte*)dst = sbyte.CreateSaturating(value); break;
            case DType.Int16: *(short*)dst = short.CreateSaturating(value); break;
            case DType.UInt16: *(ushort*)dst = ushort.CreateSaturating(value); break;
            case DType.Int32: *(int*)dst = int.CreateSaturating(value); break;
            case DType.UInt32: *(uint*)dst = uint.CreateSaturating(value); break;
            case DType.Int64: *(long*)dst = long.CreateSaturating(value); break;
            case DType.UInt64: *(ulong*)dst = ulong.CreateSaturating(value); break;
            case DType.UInt8: *dst = byte.CreateSaturating(value); break;
            case DType.Bool: *dst = byte.CreateSaturating(value) != 0 ? (byte)1 : (byte)0; break;
            default: StoreOne(value, dtype, dst); break;
        }
    }

    // CreateTruncating semantics, vectorized where TensorPrimitives can.
    private static void Convert<TFrom, TTo>(byte* src, Span<TTo> dst) where TFrom : unmanaged, INumberBase<TFrom> where TTo : unmanaged, INumberBase<TTo> =>
        TensorPrimitives.ConvertTruncating(new ReadOnlySpan<TFrom>(src, dst.Length), dst);

    private static void Convert<TFrom, TTo>(ReadOnlySpan<TFrom> src, byte* dst) where TFrom : unmanaged, INumberBase<TFrom> where TTo : unmanaged, INumberBase<TTo> =>
        TensorPrimitives.ConvertTruncating(src, new Span<TTo>(dst, src.Length));
}
