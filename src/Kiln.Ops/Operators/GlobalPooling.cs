using System.Numerics;
using System.Numerics.Tensors;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// GlobalAveragePool, GlobalMaxPool and GlobalLpPool: each [N, C, spatial...] plane reduced to one
/// value, giving [N, C, 1, ..., 1].
/// </summary>
[OpFamily]
public static class GlobalPooling
{
    public static void Register(OpRegistry r)
    {
        r.Add(new GlobalPoolDefinition<AverageOp>("GlobalAveragePool"));
        r.Add(new GlobalPoolDefinition<MaxOp>("GlobalMaxPool"));
        r.Add(new GlobalPoolDefinition<LpOp>("GlobalLpPool"));
    }

    /// <summary>Reduces one plane; <c>p</c> is GlobalLpPool's exponent.</summary>
    private interface IPlaneReduction
    {
        static abstract T Reduce<T>(ReadOnlySpan<T> plane, double p) where T : unmanaged, IFloatingPointIeee754<T>;
    }

    private struct AverageOp : IPlaneReduction
    {
        public static T Reduce<T>(ReadOnlySpan<T> plane, double p) where T : unmanaged, IFloatingPointIeee754<T> =>
            TensorPrimitives.Sum(plane) / T.CreateChecked(plane.Length);
    }

    /// <summary>The largest element; NaN if any element is NaN.</summary>
    private struct MaxOp : IPlaneReduction
    {
        public static T Reduce<T>(ReadOnlySpan<T> plane, double p) where T : unmanaged, IFloatingPointIeee754<T> => TensorPrimitives.Max(plane);
    }

    /// <summary>(sum of |x|^p)^(1/p).</summary>
    private struct LpOp : IPlaneReduction
    {
        public static T Reduce<T>(ReadOnlySpan<T> plane, double p) where T : unmanaged, IFloatingPointIeee754<T>
        {
            double sum = 0;
            foreach (var v in plane) sum += Math.Pow(Math.Abs(double.CreateChecked(v)), p);
            return T.CreateChecked(Math.Pow(sum, 1 / p));
        }
    }

    private sealed class GlobalPoolDefinition<TOp>(string opType) : OpDefinition where TOp : IPlaneReduction
    {
        public override string OpType => opType;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, t => t.IsFloat(), "a float type");
            var x = ctx.InputShape(0);
            if (!x.IsRanked) throw new ShapeUnknownException();
            if (x.Rank < 2) throw ctx.Error($"X must have rank 2 or more ([N, C, spatial...]), got {x}");
            ctx.SetOutput(0, ctx.InputElementType(0), new Shape(x.Dims.Select((d, i) => i < 2 ? d : (Dim)1)));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            if (x.Rank < 2 || !x.ElementType.IsFloat()) throw ctx.Error($"X must be a float tensor of rank 2 or more, got {x.ElementType.OnnxName()}{TensorData.FormatShape(x.Shape)}");
            long p = ctx.Op.GetInt("p", 2);
            if (p < 1) throw ctx.Error($"p must be a positive integer, got {p}");
            long[] shape = [.. x.Shape.Select((d, i) => i < 2 ? d : 1)];
            long planes = x.Shape[0] * x.Shape[1];
            if (planes > 0 && x.ElementCount == 0) throw ctx.Error("cannot pool over empty spatial axes");
            ctx.SetOutput(0, FloatCompute.UsesDouble(x.ElementType) ? Run<double>(x, shape, planes, p) : Run<float>(x, shape, planes, p));
        }

        private static TensorData Run<T>(TensorData x, long[] shape, long planes, double p) where T : unmanaged, IFloatingPointIeee754<T>
        {
            var src = FloatCompute.Widen<T>(x);
            var dst = new T[planes];
            int plane = planes == 0 ? 0 : (int)(x.ElementCount / planes);
            for (int i = 0; i < dst.Length; i++) dst[i] = TOp.Reduce<T>(src.AsSpan(i * plane, plane), p);
            return FloatCompute.Narrow(dst, shape, x.ElementType);
        }
    }
}
