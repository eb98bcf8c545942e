using Kiln.Ir;
using static Kiln.Compiler.Passes.Decompositions.DecompositionBuilder;

namespace Kiln.Compiler.Passes.Decompositions;

/// <summary>
/// Quantized products as the operations they are defined by, computed exactly:
/// MatMulInteger as an int32 MatMul of the zero-point-shifted operands; ConvInteger as a float32
/// Conv of the shifted operands (exact while every sum stays below 2^24, which the decomposition
/// checks from the kernel's size); QLinearMatMul and QLinearConv requantize that accumulator in
/// float64 with the multiplier a_scale·b_scale/y_scale rounded in the scales' precision, as the
/// reference does; DynamicQuantizeLinear as min/max reductions feeding a QuantizeLinear.
/// </summary>
public static class QuantizedDecomposition
{
    /// <summary>The largest sum of products of 9-bit shifted values that float32 holds exactly: 2^24 / 255².</summary>
    private const long MaxExactFloatTerms = (1 << 24) / (255 * 255);

    private static Value Cast(DecompositionBuilder b, Value v, ElementType to) =>
        v.TensorType.ElementType == to ? v : b.Add("Cast", [v], Attrs(("to", AttributeValue.Int((long)to))));

    /// <summary>x - zero_point as <paramref name="type"/>; the zero point shaped by <paramref name="shapeZero"/>.</summary>
    private static Value Shifted(DecompositionBuilder b, Value x, Value? zero, ElementType type, Func<Value, Value> shapeZero)
    {
        var wide = Cast(b, x, type);
        return zero is null ? wide : b.Add("Sub", [wide, Cast(b, shapeZero(zero), type)]);
    }

    /// <summary>A's per-row value (a vector of M entries) as [M, 1], so it broadcasts along rows.</summary>
    private static Value PerRow(DecompositionBuilder b, Value value, Value a)
    {
        var v = value.TensorType.Shape;
        var s = a.TensorType.Shape;
        if (v.Rank == 1 && s.Rank >= 2 && v[0].TryGetValue(out long n) && n > 1 && s[s.Rank - 2] == v[0])
            return b.Add("Unsqueeze", [value, b.Int64s(1)]);
        return value;
    }

    /// <summary>A per-output-channel vector as [M, 1, ..., 1] against an [N, M, spatial...] result.</summary>
    private static Value PerChannel(DecompositionBuilder b, Value value, int spatialAxes)
    {
        if (value.TensorType.Shape.Rank != 1 || value.TensorType.Shape[0] == 1) return value;
        return b.Add("Unsqueeze", [value, b.Int64s(Enumerable.Range(1, spatialAxes).Select(i => (long)i).ToArray())]);
    }

    private static Value IntegerProduct(DecompositionBuilder b, Operation op, int a, int aZero, int w, int wZero) =>
        b.Add("MatMul", [
            Shifted(b, op.Input(a), op.OptionalInput(aZero), ElementType.Int32, z => PerRow(b, z, op.Input(a))),
            Shifted(b, op.Input(w), op.OptionalInput(wZero), ElementType.Int32, z => z)]);

    public static Value?[] MatMulInteger(DecompositionBuilder b, Operation op) => [IntegerProduct(b, op, 0, 2, 1, 3)];

    /// <summary>The int32 convolution of the shifted operands, through a float32 Conv that is exact for these sizes.</summary>
    private static Value IntegerConvolution(DecompositionBuilder b, Operation op, int x, int xZero, int w, int wZero, Value? bias)
    {
        var wShape = op.Input(w).TensorType.Shape;
        long terms = 1;
        for (int i = 1; i < wShape.Rank; i++)
            terms = wShape[i].TryGetValue(out long d) ? terms * d : long.MaxValue / 2;
        if (terms > MaxExactFloatTerms)
            throw new KilnException(ErrorCode.UnsupportedOperator,
                $"{op.Describe()}: not supported by the compiled path: {terms} products per output exceed what a float32 convolution sums exactly ({MaxExactFloatTerms})");
        var attrs = op.Attributes.Where(a => a.Key is "auto_pad" or "dilations" or "group" or "kernel_shape" or "pads" or "strides").ToDictionary();
        var weights = Shifted(b, op.Input(w), op.OptionalInput(wZero), ElementType.Float32,
            z => z.TensorType.Shape.Rank == 1 && z.TensorType.Shape[0] != 1 ? PerChannel(b, z, wShape.Rank - 1) : z);
        var conv = b.Add("Conv", [Shifted(b, op.Input(x), op.OptionalInput(xZero), ElementType.Float32, z => z), weights], attrs);
        var acc = Cast(b, conv, ElementType.Int32);
        return bias is null ? acc : b.Add("Add", [acc, PerChannel(b, bias, wShape.Rank - 2)]);
    }

    public static Value?[] ConvInteger(DecompositionBuilder b, Operation op) => [IntegerConvolution(b, op, 0, 2, 1, 3, null)];

    /// <summary>saturate(round(acc · multiplier + y_zero_point)) in float64, to y_zero_point's type.</summary>
    private static Value Requantize(DecompositionBuilder b, Value acc, Value multiplier, Value yZero)
    {
        var scaled = b.Add("Mul", [Cast(b, acc, ElementType.Float64), Cast(b, multiplier, ElementType.Float64)]);
        var rounded = b.Add("Round", [b.Add("Add", [scaled, Cast(b, yZero, ElementType.Float64)])]);
        var type = yZero.TensorType.ElementType;
        var (low, high) = type == ElementType.Int8 ? (-128.0, 127.0) : (0.0, 255.0);
        var clipped = b.Add("Clip", [rounded, b.Scalar(ElementType.Float64, low), b.Scalar(ElementType.Float64, high)]);
        return Cast(b, clipped, type);
    }

    /// <summary>a_scale·b_scale/y_scale, each step rounded in the scales' type (elementwise in that type).</summary>
    private static Value Multiplier(DecompositionBuilder b, Value aScale, Value bScale, Value yScale) =>
        b.Add("Div", [b.Add("Mul", [aScale, bScale]), Cast(b, yScale, aScale.TensorType.ElementType)]);

    public static Value?[] QLinearMatMul(DecompositionBuilder b, Operation op)
    {
        var acc = IntegerProduct(b, op, 0, 2, 3, 5);
        var multiplier = Multiplier(b, PerRow(b, op.Input(1), op.Input(0)), op.Input(4), op.Input(6));
        return [Requantize(b, acc, multiplier, op.Input(7))];
    }

    public static Value?[] QLinearConv(DecompositionBuilder b, Operation op)
    {
        int spatial = op.Input(3).TensorType.Shape.Rank - 2;
        var acc = IntegerConvolution(b, op, 0, 2, 3, 5, op.OptionalInput(8));
        var multiplier = Multiplier(b, op.Input(1), PerChannel(b, op.Input(4), spatial), op.Input(6));
        return [Requantize(b, acc, multiplier, op.Input(7))];
    }

    /// <summary>
    /// DynamicQuantizeLinear: scale = (max(0, max x) - min(0, min x)) / 255 and a zero point
    /// round(-min / scale) clamped to [0, 255], all in float32; an all-zero input (scale 0) quantizes
    /// with scale 1 and zero point 0, so it gives zeros rather than a division by zero.
    /// </summary>
    public static Value?[] DynamicQuantizeLinear(DecompositionBuilder b, Operation op)
    {
        var x = op.Input(0);
        var zero = b.Scalar(ElementType.Float32, 0);
        var keep = Attrs(("keepdims", AttributeValue.Int(0)));
        var max = b.Add("Max", [b.Add("ReduceMax", [x], keep), zero]);
        var min = b.Add("Min", [b.Add("ReduceMin", [x], keep), zero]);
        var scale = b.Add("Div", [b.Add("Sub", [max, min]), b.Scalar(ElementType.Float32, 255)]);
        var safeScale = b.Add("Where", [b.Add("Equal", [scale, zero]), b.Scalar(ElementType.Float32, 1), scale]);
        var zeroPoint = b.Add("Clip", [
            b.Add("Round", [b.Add("Sub", [zero, b.Add("Div", [min, safeScale])])]),
            zero, b.Scalar(ElementType.Float32, 255)]);
        var zeroPoint8 = Cast(b, zeroPoint, ElementType.UInt8);
        var y = b.Add("QuantizeLinear", [x, safeScale, zeroPoint8]);
        return [y, scale, zeroPoint8];
    }
}
