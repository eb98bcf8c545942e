using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>Helpers of the integer-quantized operators (ConvInteger, QLinearConv, MatMulInteger, QLinearMatMul, QuantizeLinear).</summary>
public static class Quantized
{
    /// <summary>Checks that the given inputs are int8 or uint8.</summary>
    public static void CheckEightBit(InferenceContext ctx, params int[] inputs)
    {
        foreach (int i in inputs)
            Infer.ElementTypeIn(ctx, i, t => t is ElementType.Int8 or ElementType.UInt8, "int8 or uint8");
    }

    /// <summary>
    /// The elements of an integer tensor minus a zero point, as int32. The zero point has one value
    /// (per tensor) or one value per consecutive block of <paramref name="block"/> elements, cycling
    /// (per channel of an [M, ...] tensor: block = elements per channel).
    /// </summary>
    public static int[] Shifted(TensorData t, TensorData? zero, long block)
    {
        var result = new int[t.ElementCount];
        long count = zero?.ElementCount ?? 0;
        for (long i = 0; i < result.LongLength; i++)
        {
            long z = count == 0 ? 0 : zero!.GetInt64(count == 1 ? 0 : i / block % count);
            result[i] = (int)(t.GetInt64(i) - z);
        }
        return result;
    }

    /// <summary>The one value of a per-tensor scale or zero point.</summary>
    public static double Scalar(EvaluationContext ctx, TensorData t, string name) =>
        t.ElementCount == 1 ? t.GetDouble(0) : throw ctx.Error($"{name} must hold one value, has shape {TensorData.FormatShape(t.Shape)}");

    /// <summary>The range of an integer element type.</summary>
    public static (double Min, double Max) Range(ElementType t) => t switch
    {
        ElementType.Int8 => (sbyte.MinValue, sbyte.MaxValue),
        ElementType.UInt8 => (0, byte.MaxValue),
        ElementType.Int16 => (short.MinValue, short.MaxValue),
        ElementType.UInt16 => (0, ushort.MaxValue),
        ElementType.Int32 => (int.MinValue, int.MaxValue),
        ElementType.UInt32 => (0, uint.MaxValue),
        ElementType.Int4 => (-8, 7),
        ElementType.UInt4 => (0, 15),
        ElementType.Int2 => (-2, 1),
        ElementType.UInt2 => (0, 3),
        _ => throw new KilnException(ErrorCode.Unsupported, $"{t.OnnxName()} is not a quantized integer type"),
    };

    /// <summary>Stores an integral value into an integer tensor, clamped to the type's range.</summary>
    public static void SetSaturated(TensorData t, long i, double value)
    {
        var (min, max) = Range(t.ElementType);
        Conversions.SetInteger(t, i, (ulong)(long)Math.Clamp(value, min, max));
    }
}
