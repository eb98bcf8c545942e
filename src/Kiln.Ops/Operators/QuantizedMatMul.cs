using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// MatMulInteger (8-bit operands, int32 result) and QLinearMatMul (8-bit in and out): numpy matmul
/// of the zero-point-shifted operands, accumulated exactly in int32. A's zero point and scale may
/// be per row (a vector of M values, or [..., M, 1]); B's per column (N values, or [..., 1, N]).
/// </summary>
[OpFamily]
public static class QuantizedMatMul
{
    public static void Register(OpRegistry r)
    {
        r.Add(new MatMulIntegerDefinition());
        r.Add(new QLinearMatMulDefinition());
    }

    private sealed class MatMulIntegerDefinition : OpDefinition
    {
        public override string OpType => "MatMulInteger";
        public override int MinInputs => 2;
        public override int MaxInputs => 4;

        public override void InferTypes(InferenceContext ctx)
        {
            Quantized.CheckEightBit(ctx, 0, 1);
            ctx.SetOutput(0, ElementType.Int32, MatMul.InferShape(ctx, 0, 1));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var (y, shape) = Accumulate(ctx, ctx.Tensor(0), ctx.OptionalTensor(2), ctx.Tensor(1), ctx.OptionalTensor(3));
            ctx.SetOutput(0, new TensorData(ElementType.Int32, shape, y));
        }
    }

    /// <summary>
    /// QLinearMatMul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point):
    /// y = saturate(round(acc * a_scale * b_scale / y_scale) + y_zero_point), the scale product
    /// computed in the scales' precision.
    /// </summary>
    private sealed class QLinearMatMulDefinition : OpDefinition
    {
        public override string OpType => "QLinearMatMul";
        public override int MinInputs => 8;

        public override void InferTypes(InferenceContext ctx)
        {
            Quantized.CheckEightBit(ctx, 0, 3, 7);
            ctx.SetOutput(0, ctx.InputElementType(7), MatMul.InferShape(ctx, 0, 3));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var a = ctx.Tensor(0);
            var b = ctx.Tensor(3);
            var (acc, shape) = Accumulate(ctx, a, ctx.Tensor(2), b, ctx.Tensor(5));
            var aScale = PerRow(ctx, ctx.Tensor(1), a, "a_scale");
            var bScale = PerColumn(ctx, ctx.Tensor(4), b, "b_scale");
            double yScale = Quantized.Scalar(ctx, ctx.Tensor(6), "y_scale");
            var yZero = ctx.Tensor(7);
            double zero = Quantized.Scalar(ctx, yZero, "y_zero_point");
            var scaleType = ctx.Tensor(1).ElementType;

            var full = Promoted(shape, a.Rank, b.Rank);
            var aIndex = Broadcasting.IndexMap(aScale.Shape, full);
            var bIndex = Broadcasting.IndexMap(bScale.Shape, full);
            var y = TensorData.Zeros(yZero.ElementType, shape);
            for (long i = 0; i < acc.LongLength; i++)
            {
                double multiplier = FloatCompute.RoundTo(scaleType,
                    FloatCompute.RoundTo(scaleType, aScale.GetDouble(aIndex[i]) * bScale.GetDouble(bIndex[i])) / yScale);
                Quantized.SetSaturated(y, i, Math.Round(acc[i] * multiplier + zero, MidpointRounding.ToEven));
            }
            ctx.SetOutput(0, y);
        }

        /// <summary>The result shape as [..., M, N], restoring the axes a 1-D operand removed, so A's and B's values broadcast against it.</summary>
        private static long[] Promoted(long[] result, int aRank, int bRank)
        {
            var full = new List<long>(result);
            if (bRank == 1) full.Add(1);
            if (aRank == 1) full.Insert(full.Count - 1, 1);
            return [.. full];
        }
    }

    /// <summary>The int32 product of (A - a_zero_point) and (B - b_zero_point), and its shape.</summary>
    private static (int[] Values, long[] Shape) Accumulate(EvaluationContext ctx, TensorData a, TensorData? aZero, TensorData b, TensorData? bZero)
    {
        var shape = MatrixKernels.ResultShape(a.Shape, b.Shape, ctx.Error);
        var av = Shift(a, aZero is null ? null : PerRow(ctx, aZero, a, "a_zero_point"));
        var bv = Shift(b, bZero is null ? null : PerColumn(ctx, bZero, b, "b_zero_point"));
        return (MatrixKernels.MatMul(av, a.Shape, bv, b.Shape, shape), shape);
    }

    /// <summary>t minus a zero point broadcast to its shape, as int32.</summary>
    private static int[] Shift(TensorData t, TensorData? zero)
    {
        var result = new int[t.ElementCount];
        var index = zero is null ? null : Broadcasting.IndexMap(zero.Shape, t.Shape);
        for (long i = 0; i < result.LongLength; i++)
            result[i] = (int)(t.GetInt64(i) - (zero is null ? 0 : zero.GetInt64(index![i])));
        return result;
    }

    /// <summary>A's scale or zero point, shaped to broadcast against A: a vector of M values becomes [M, 1].</summary>
    private static TensorData PerRow(EvaluationContext ctx, TensorData value, TensorData a, string name)
    {
        if (value.Rank == 1 && a.Rank >= 2 && value.ElementCount == a.Shape[^2] && value.ElementCount > 1)
            value = value.Reshape([value.ElementCount, 1]);
        return Broadcastable(ctx, value, a, name);
    }

    /// <summary>B's scale or zero point: a vector of N values already broadcasts along B's last axis.</summary>
    private static TensorData PerColumn(EvaluationContext ctx, TensorData value, TensorData b, string name) => Broadcastable(ctx, value, b, name);

    private static TensorData Broadcastable(EvaluationContext ctx, TensorData value, TensorData operand, string name)
    {
        if (value.ElementCount == 1) return value.Reshape([]);
        if (!Broadcasting.Shape(null, value.Shape, operand.Shape).AsSpan().SequenceEqual(operand.Shape))
            throw ctx.Error($"{name} {TensorData.FormatShape(value.Shape)} does not fit its operand {TensorData.FormatShape(operand.Shape)}");
        return value;
    }
}
