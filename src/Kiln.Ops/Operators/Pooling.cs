using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// MaxPool (with the optional Indices result), AveragePool and LpPool over the spatial axes of an
/// [N, C, spatial...] tensor: kernel, strides, dilations, pads, auto_pad and ceil_mode as in
/// <see cref="WindowAttributes"/>. Padding never contributes a value; AveragePool divides by the
/// taps inside the input, or with count_include_pad by the taps inside the padded input.
/// </summary>
[OpFamily]
public static class Pooling
{
    public static void Register(OpRegistry r)
    {
        r.Add(new MaxPoolDefinition());
        r.Add(new AveragePoolDefinition());
        r.Add(new LpPoolDefinition());
    }

    /// <summary>Shape inference and window resolution shared by the three operators.</summary>
    private abstract class PoolDefinition : OpDefinition
    {
        public override void InferTypes(InferenceContext ctx)
        {
            var et = ctx.InputElementType(0);
            CheckType(ctx, et);
            var x = ctx.InputShape(0);
            if (!x.IsRanked) throw new ShapeUnknownException();
            if (x.Rank < 3) throw ctx.Error($"X must have rank 3 or more ([N, C, spatial...]), got {x}");
            var shape = WindowAttributes.Read(ctx.Op, x.Rank - 2, null, allowCeilMode: true).OutputShape(x, x[1]);
            ctx.SetOutput(0, et, shape);
            if (ctx.HasOutput(1)) ctx.SetOutput(1, ElementType.Int64, shape);
        }

        protected abstract void CheckType(InferenceContext ctx, ElementType et);

        /// <summary>The windows over one plane of X, and the result shape.</summary>
        protected static (PoolWindows Windows, long[] Shape) Prepare(EvaluationContext ctx, TensorData x)
        {
            if (x.Rank < 3) throw ctx.Error($"X must have rank 3 or more ([N, C, spatial...]), got {TensorData.FormatShape(x.Shape)}");
            var attributes = WindowAttributes.Read(ctx.Op, x.Rank - 2, null, allowCeilMode: true);
            var geometry = attributes.Resolve(x.Shape.AsSpan(2), ctx.Op);
            return (new PoolWindows(geometry, attributes.PadEnds(geometry)), [x.Shape[0], x.Shape[1], .. geometry.Output]);
        }
    }

    /// <summary>MaxPool: the largest tap (NaNs skipped); Indices are flat positions in X (column-major within a plane when storage_order = 1).</summary>
    private sealed class MaxPoolDefinition : PoolDefinition
    {
        public override string OpType => "MaxPool";
        public override int MaxOutputs => 2;

        protected override void CheckType(InferenceContext ctx, ElementType et)
        {
            if (!et.IsFloat() && et is not (ElementType.Int8 or ElementType.UInt8))
                throw ctx.TypeError($"X must be a float type, int8 or uint8, got {et.OnnxName()}");
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var (windows, shape) = Prepare(ctx, x);
            var input = Dispatch.IsNativeNumeric(x.ElementType) ? x : Conversions.ToFloat32(x);
            var kernel = new MaxKernel(input, windows, shape, ctx.HasOutput(1));
            var (y, argmax) = Dispatch.Numeric<MaxKernel, (TensorData, long[])>(input.ElementType, kernel);
            ctx.SetOutput(0, Conversions.Convert(y, x.ElementType));
            if (!ctx.HasOutput(1)) return;
            if (ctx.Op.GetInt("storage_order", 0) != 0) ToColumnMajor(argmax, x.Shape);
            ctx.SetOutput(1, new TensorData(ElementType.Int64, shape, argmax));
        }

        /// <summary>Rewrites flat row-major indices so the position within each plane is column-major.</summary>
        private static void ToColumnMajor(long[] indices, long[] xShape)
        {
            var spatial = xShape[2..];
            long plane = WindowGeometry.Product(spatial);
            for (int i = 0; i < indices.Length; i++)
            {
                long offset = indices[i] % plane, columnMajor = 0;
                for (int a = 0; a < spatial.Length; a++)
                {
                    long coord = offset / WindowGeometry.Product(spatial.AsSpan(a + 1)) % spatial[a];
                    columnMajor += coord * WindowGeometry.Product(spatial.AsSpan(0, a));
                }
                indices[i] += columnMajor - offset;
            }
        }

        private readonly struct MaxKernel(TensorData x, PoolWindows windows, long[] shape, bool withIndices) : INumericVisitor<(TensorData, long[])>
        {
            public (TensorData, long[]) Visit<T>() where T : unmanaged, INumber<T>
            {
                var src = x.Data<T>();
                var y = TensorData.Zeros(x.ElementType, shape);
                var dst = y.Data<T>();
                var argmax = withIndices ? new long[dst.Length] : [];
                int outPlane = windows.Outputs, inPlane = (int)(x.ElementCount / Math.Max(1, x.Shape[0] * x.Shape[1]));
                var lowest = T.CreateSaturating(double.NegativeInfinity);
                for (int p = 0, planes = (int)(x.Shape[0] * x.Shape[1]); p < planes; p++)
                {
                    int inBase = p * inPlane;
                    for (int o = 0; o < outPlane; o++)
                    {
                        T best = lowest;
                        int arg = -1;
                        foreach (int t in windows.Taps(o))
                        {
                            T v = src[inBase + t];
                            if (arg < 0 || v > best || (T.IsNaN(best) && !T.IsNaN(v))) { best = v; arg = t; }
                        }
                        dst[p * outPlane + o] = best;
                        if (withIndices) argmax[p * outPlane + o] = (long)inBase + Math.Max(arg, 0);
                    }
                }
                return (y, argmax);
            }
        }
    }

    private abstract class FloatPoolDefinition : PoolDefinition
    {
        protected override void CheckType(InferenceContext ctx, ElementType et)
        {
            if (!et.IsFloat()) throw ctx.TypeError($"X must be a float type, got {et.OnnxName()}");
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            if (!x.ElementType.IsFloat()) throw ctx.Error($"X must be a float type, got {x.ElementType.OnnxName()}");
            var (windows, shape) = Prepare(ctx, x);
            double parameter = Parameter(ctx.Op);
            ctx.SetOutput(0, FloatCompute.UsesDouble(x.ElementType) ? Run<double>(parameter, x, windows, shape) : Run<float>(parameter, x, windows, shape));
        }

        private TensorData Run<T>(double parameter, TensorData x, PoolWindows windows, long[] shape) where T : unmanaged, IFloatingPointIeee754<T>
        {
            var src = FloatCompute.Widen<T>(x);
            var dst = HostBuffers.Allocate<T>(shape);
            int outPlane = windows.Outputs, planes = (int)(shape[0] * shape[1]);
            int inPlane = planes == 0 ? 0 : (int)(x.ElementCount / planes);
            for (int p = 0; p < planes; p++)
                for (int o = 0; o < outPlane; o++)
                    dst[p * outPlane + o] = Reduce(parameter, src.AsSpan(p * inPlane, inPlane), windows.Taps(o), windows.PaddedCount[o]);
            return FloatCompute.Narrow(dst, shape, x.ElementType);
        }

        /// <summary>The operator's one numeric attribute, read once per evaluation.</summary>
        protected abstract double Parameter(Operation op);

        /// <summary>One output value from the taps of its window within one input plane.</summary>
        protected abstract T Reduce<T>(double parameter, ReadOnlySpan<T> plane, ReadOnlySpan<int> taps, int paddedCount) where T : unmanaged, IFloatingPointIeee754<T>;
    }

    private sealed class AveragePoolDefinition : FloatPoolDefinition
    {
        public override string OpType => "AveragePool";

        /// <summary>1 to count the padding in the divisor.</summary>
        protected override double Parameter(Operation op) => op.GetInt("count_include_pad", 0) != 0 ? 1 : 0;

        protected override T Reduce<T>(double includePad, ReadOnlySpan<T> plane, ReadOnlySpan<int> taps, int paddedCount)
        {
            T sum = T.Zero;
            foreach (int t in taps) sum += plane[t];
            int count = includePad != 0 ? paddedCount : taps.Length;
            return sum / T.CreateChecked(count);
        }
    }

    /// <summary>LpPool: (sum of |x|^p over the window)^(1/p), p an integer attribute (default 2).</summary>
    private sealed class LpPoolDefinition : FloatPoolDefinition
    {
        public override string OpType => "LpPool";

        protected override double Parameter(Operation op)
        {
            long p = op.GetInt("p", 2);
            return p >= 1 ? p : throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: p must be a positive integer, got {p}");
        }

        protected override T Reduce<T>(double p, ReadOnlySpan<T> plane, ReadOnlySpan<int> taps, int paddedCount)
        {
            double sum = 0;
            foreach (int t in taps) sum += Math.Pow(Math.Abs(double.CreateChecked(plane[t])), p);
            return T.CreateChecked(Math.Pow(sum, 1 / p));
        }
    }
}
