using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// Float tensors as double arrays, for reference kernels that compute in double precision
/// (attention, signal processing) whatever the element type: every float format converts to
/// double exactly, so reading is lossless and each result is rounded once, when written back.
/// </summary>
public static class FloatBuffers
{
    /// <summary>
    /// The elements of a float tensor as doubles. A float64 tensor returns its own storage, so
    /// callers must treat the result as read-only.
    /// </summary>
    public static double[] Read(TensorData t)
    {
        switch (t.Storage)
        {
            case double[] d: return d;
            case float[] f: return Array.ConvertAll(f, x => (double)x);
            case Half[] h: return Array.ConvertAll(h, x => (double)x);
        }
        if (!t.ElementType.IsFloat())
            throw new KilnException(ErrorCode.TypeMismatch, $"expected a float tensor, got {t.ElementType.OnnxName()}");
        var result = new double[t.ElementCount];
        for (long i = 0; i < result.LongLength; i++) result[i] = t.GetDouble(i);
        return result;
    }

    /// <summary>A tensor of the given float (or, through Cast semantics, any numeric) type holding the values, each rounded once.</summary>
    public static TensorData Write(ElementType type, long[] shape, double[] values)
    {
        switch (type)
        {
            case ElementType.Float64: return new TensorData(type, shape, values);
            case ElementType.Float32: return new TensorData(type, shape, Array.ConvertAll(values, x => (float)x));
            case ElementType.Float16: return new TensorData(type, shape, Array.ConvertAll(values, x => (Half)x));
        }
        return Conversions.Convert(new TensorData(ElementType.Float64, shape, values), type);
    }

    /// <summary>The float types ONNX computes in (the T of most float operators): float32, float64, float16, bfloat16.</summary>
    public static bool IsComputeType(ElementType t) => t is ElementType.Float32 or ElementType.Float64 or ElementType.Float16 or ElementType.BFloat16;

    /// <summary>The value rounded to the precision of a float type (for intermediate results a spec computes in that type).</summary>
    public static double RoundTo(double value, ElementType type) => type switch
    {
        ElementType.Float64 => value,
        ElementType.Float32 => (float)value,
        ElementType.Float16 => (double)(Half)value,
        ElementType.BFloat16 => (float)(BFloat16)(float)value,
        _ => throw new KilnException(ErrorCode.Unsupported, $"{type.OnnxName()} is not a supported working precision"),
    };

    /// <summary>An element-type attribute (ONNX data type code) such as output_datatype or softmax_precision; null when absent.</summary>
    public static ElementType? TypeAttribute(Operation op, string name)
    {
        if (!op.HasAttribute(name)) return null;
        long code = op.GetInt(name);
        if (code < 1 || code > (long)ElementTypes.Last)
            throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: attribute '{name}' is not a data type code: {code}");
        return (ElementType)code;
    }
}
