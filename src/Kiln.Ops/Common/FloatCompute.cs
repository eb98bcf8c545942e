using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// For float operators whose kernels are written once over float and double: float64 tensors are
/// computed in double; every narrower float type (f16, bf16, the float8/float4 formats) is widened
/// to float32, computed, and rounded back to its type once at the end.
/// </summary>
public static class FloatCompute
{
    public static bool UsesDouble(ElementType t) => t == ElementType.Float64;

    /// <summary>
    /// Whether long dot products (convolution, matrix products) of this type accumulate in double:
    /// always, for floats. The reference is the oracle, so it should not carry float32 summation
    /// noise of its own; only the rounding of each result to the tensor's type remains.
    /// </summary>
    public static bool AccumulatesInDouble(ElementType t) => t.IsFloat();

    /// <summary>The element type whose storage is T[] (float or double).</summary>
    public static ElementType TypeOf<T>() =>
        typeof(T) == typeof(double) ? ElementType.Float64
        : typeof(T) == typeof(float) ? ElementType.Float32
        : throw new InvalidOperationException($"{typeof(T).Name} is not a compute type");

    /// <summary>The elements of a float tensor as T[] (shared with the tensor when no conversion is needed: read only).</summary>
    public static T[] Widen<T>(TensorData t) => Conversions.Convert(t, TypeOf<T>()).Data<T>();

    /// <summary>A tensor of <paramref name="type"/> holding computed values.</summary>
    public static TensorData Narrow<T>(T[] data, long[] shape, ElementType type) =>
        Conversions.Convert(new TensorData(TypeOf<T>(), shape, data), type);

    /// <summary>Rounds a double to the precision of a float type (how numpy computes in that type).</summary>
    public static double RoundTo(ElementType type, double v) => type switch
    {
        ElementType.Float32 => (float)v,
        ElementType.Float16 => (double)(Half)v,
        ElementType.BFloat16 => (float)(BFloat16)(float)v,
        _ => v,
    };
}
