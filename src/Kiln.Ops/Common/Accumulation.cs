using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>A computation over an element type T and the wider type TAcc its sums and products accumulate in.</summary>
public interface IAccumulatingVisitor<out TResult>
{
    TResult Visit<T, TAcc>() where T : unmanaged, INumber<T> where TAcc : unmanaged, INumber<TAcc>;
}

/// <summary>
/// Chooses the accumulator type of reductions and scans: floats accumulate in double (sums of
/// float32 drift otherwise), signed and small unsigned integers in long and uint64 in ulong, so
/// integer results are exact (wrapping back to the element type as numpy's astype does).
/// Element types without generic math (bfloat16, float8, float4) are widened to float32 first.
/// </summary>
public static class Accumulation
{
    public static TResult Dispatch<TVisitor, TResult>(ElementType t, TVisitor visitor) where TVisitor : IAccumulatingVisitor<TResult> =>
        Kiln.Ops.Dispatch.Numeric<Chooser<TVisitor, TResult>, TResult>(t, new(visitor));

    /// <summary>
    /// Runs <paramref name="compute"/> on <paramref name="x"/>, widening bfloat16 and the 8/4-bit
    /// float formats to float32 around it (the result is narrowed back to x's type).
    /// </summary>
    public static TensorData Widened(TensorData x, Func<TensorData, TensorData> compute)
    {
        if (Kiln.Ops.Dispatch.IsNativeNumeric(x.ElementType)) return compute(x);
        if (!x.ElementType.IsFloat())
            throw new KilnException(ErrorCode.Unsupported, $"element type {x.ElementType.OnnxName()} is not supported here");
        return Conversions.Convert(compute(Conversions.ToFloat32(x)), x.ElementType);
    }

    public static bool IsFloat<T>() => typeof(T) == typeof(float) || typeof(T) == typeof(double) || typeof(T) == typeof(Half);

    private readonly struct Chooser<TVisitor, TResult>(TVisitor visitor) : INumericVisitor<TResult>
        where TVisitor : IAccumulatingVisitor<TResult>
    {
        public TResult Visit<T>() where T : unmanaged, INumber<T>
        {
            if (IsFloat<T>()) return visitor.Visit<T, double>();
            if (typeof(T) == typeof(ulong)) return visitor.Visit<T, ulong>();
            return visitor.Visit<T, long>();
        }
    }
}
