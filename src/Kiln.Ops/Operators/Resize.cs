using System.Numerics;
using System.Runtime.InteropServices;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Resize(X, roi, scales, sizes), opset 19 semantics (older Resize and Upsample are upgraded on
/// import). The output size of a resized axis is floor(in * scale), or 'sizes' (with
/// keep_aspect_ratio_policy not_larger / not_smaller: one common scale, sizes rounded half up).
/// Each output coordinate maps to an input coordinate by coordinate_transformation_mode; 'nearest'
/// then copies one element (exact for every element type), 'linear' and 'cubic' weight the
/// neighbours (separably, axis by axis; antialias stretches the filter when downscaling).
/// </summary>
[OpFamily]
public static class Resize
{
    public static void Register(OpRegistry r) => r.Add(new ResizeDefinition());

    private sealed class ResizeDefinition : OpDefinition
    {
        public override string OpType => "Resize";
        public override int MaxInputs => 4;

        public override void InferTypes(InferenceContext ctx)
        {
            var et = ctx.InputElementType(0);
            if (!et.IsNumeric() && et != ElementType.Bool) throw ctx.TypeError($"X must be numeric, got {et.OnnxName()}");
            ReadSettings(ctx.Op);
            var x = ctx.InputShape(0);
            if (!x.IsRanked) throw new ShapeUnknownException();
            var axes = ReadAxes(ctx.Op, x.Rank);
            var dims = x.Dims.ToArray();
            var scales = ctx.InputConstant(2) is { ElementCount: > 0 } s ? ToDoubles(s) : null;
            var sizes = ctx.HasInput(3) ? ctx.InputShapeValue(3) : null;
            if ((scales?.Length ?? axes.Length) != axes.Length || (sizes?.Length ?? axes.Length) != axes.Length)
                throw ctx.Error($"scales and sizes need one value for each of the {axes.Length} resized axes");
            bool stretch = ctx.Op.GetString("keep_aspect_ratio_policy", "stretch") == "stretch";
            for (int k = 0; k < axes.Length; k++)
            {
                int a = axes[k];
                dims[a] = scales is not null ? ScaledSize(x[a], scales[k]) : sizes is not null && stretch ? sizes[k] : Dim.Unknown();
            }
            // keep_aspect_ratio_policy needs the input sizes; with constant sizes and a static input, fold the plan.
            if (scales is null && sizes is not null && x.IsStatic && sizes.All(d => d.IsKnown))
                dims = Plan(ctx.Op, x.ToArray(), null, sizes.Select(d => (double)d.Value).ToArray(), axes, ctx.Error).Shape.Select(v => (Dim)v).ToArray();
            ctx.SetOutput(0, et, new Shape(dims));
        }

        /// <summary>floor(size * scale), kept symbolic when the scale is an integer or the inverse of one.</summary>
        private static Dim ScaledSize(Dim size, double scale)
        {
            if (size.TryGetValue(out long v)) return (long)Math.Floor(v * scale);
            if (scale == Math.Floor(scale)) return size * (long)scale;
            double inverse = 1 / scale;
            if (inverse == Math.Floor(inverse) && inverse * scale == 1) return size / (long)inverse;
            return Dim.Unknown();
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var settings = ReadSettings(ctx.Op);
            var axes = ReadAxes(ctx.Op, x.Rank);
            var scales = ctx.OptionalTensor(2) is { ElementCount: > 0 } s ? ToDoubles(s) : null;
            var sizes = ctx.OptionalTensor(3) is { ElementCount: > 0 } z ? z.ToInt64Array().Select(v => (double)v).ToArray() : null;
            var plan = Plan(ctx.Op, x.Shape, scales, sizes, axes, ctx.Error);

            var roi = ctx.OptionalTensor(1) is { ElementCount: > 0 } r ? ToDoubles(r) : null;
            if (settings.CoordinateMode == "tf_crop_and_resize" && roi is not null && roi.Length != 2 * axes.Length)
                throw ctx.Error($"roi has {roi.Length} values, expected {2 * axes.Length} (starts then ends of the resized axes)");
            if (TensorData.CheckedCount(plan.Shape) == 0) { ctx.SetOutput(0, TensorData.Zeros(x.ElementType, plan.Shape)); return; }
            var resampling = new AxisResampling?[x.Rank];
            for (int k = 0; k < axes.Length; k++)
            {
                int a = axes[k];
                if (x.Shape[a] == 0) throw ctx.Error($"cannot resize empty axis {a} to {plan.Shape[a]}");
                double start = 0, end = 1;
                if (settings.CoordinateMode == "tf_crop_and_resize" && roi is not null) (start, end) = (roi[k], roi[axes.Length + k]);
                var axis = new AxisResampling(checked((int)x.Shape[a]), checked((int)plan.Shape[a]), plan.Scales[a], start, end, settings);
                if (!axis.IsIdentity) resampling[a] = axis;
            }

            ctx.SetOutput(0, settings.Mode == ResizeMode.Nearest
                ? Gather(x, plan.Shape, resampling, Fill(x.ElementType, settings.ExtrapolationValue))
                : Interpolate(x, plan.Shape, resampling, settings.ExtrapolationValue));
        }

        private static ResizeSettings ReadSettings(Operation op)
        {
            var mode = op.GetString("mode", "nearest") switch
            {
                "nearest" => ResizeMode.Nearest,
                "linear" => ResizeMode.Linear,
                "cubic" => ResizeMode.Cubic,
                var m => throw Invalid(op, $"unknown mode '{m}'"),
            };
            string policy = op.GetString("keep_aspect_ratio_policy", "stretch");
            if (policy is not ("stretch" or "not_larger" or "not_smaller")) throw Invalid(op, $"unknown keep_aspect_ratio_policy '{policy}'");
            return new ResizeSettings(mode, op.GetString("coordinate_transformation_mode", "half_pixel"),
                op.GetString("nearest_mode", "round_prefer_floor"), op.GetFloat("cubic_coeff_a", -0.75f),
                op.GetInt("exclude_outside", 0) != 0, op.GetFloat("extrapolation_value", 0), op.GetInt("antialias", 0) != 0);
        }

        private static int[] ReadAxes(Operation op, int rank) =>
            op.GetInts("axes") is { } axes ? Axes.Normalize(axes, rank, op) : Enumerable.Range(0, rank).ToArray();

        private static KilnException Invalid(Operation op, string message) => new(ErrorCode.InvalidModel, $"{op.Describe()}: {message}");

        private static double[] ToDoubles(TensorData t) => Enumerable.Range(0, (int)t.ElementCount).Select(i => t.GetDouble(i)).ToArray();

        /// <summary>The output shape and the scale of every axis (1 for axes not resized).</summary>
        private static (long[] Shape, double[] Scales) Plan(Operation op, long[] input, double[]? scales, double[]? sizes, int[] axes, Func<string, KilnException> error)
        {
            if ((scales is null) == (sizes is null)) throw error("exactly one of 'scales' and 'sizes' must be given");
            var given = (scales ?? sizes)!;
            if (given.Length != axes.Length) throw error($"{(scales is null ? "sizes" : "scales")} has {given.Length} values for {axes.Length} axes");
            var shape = (long[])input.Clone();
            var factors = Enumerable.Repeat(1.0, input.Length).ToArray();
            if (scales is not null)
            {
                for (int k = 0; k < axes.Length; k++)
                {
                    if (!(scales[k] > 0) || double.IsInfinity(scales[k])) throw error($"scale {scales[k]} must be positive and finite");
                    factors[axes[k]] = scales[k];
                    shape[axes[k]] = (long)Math.Floor(input[axes[k]] * scales[k]);
                }
                return (shape, factors);
            }
            for (int k = 0; k < axes.Length; k++)
            {
                if (sizes![k] < 0) throw error($"size {sizes[k]} must not be negative");
                factors[axes[k]] = sizes[k] / input[axes[k]];
                shape[axes[k]] = (long)sizes[k];
            }
            string policy = op.GetString("keep_aspect_ratio_policy", "stretch");
            if (policy == "stretch") return (shape, factors);
            double common = axes.Select(a => factors[a]).Aggregate(policy == "not_larger" ? Math.Min : Math.Max);
            foreach (int a in axes)
            {
                factors[a] = common;
                shape[a] = (long)Math.Floor(common * input[a] + 0.5);
            }
            return (shape, factors);
        }

        /// <summary>The extrapolation value as one element of X's type.</summary>
        private static TensorData Fill(ElementType type, double value) =>
            Conversions.Convert(TensorData.Scalar(ElementType.Float64, value), type);

        /// <summary>Nearest mode: copies elements bit for bit, so every element type is exact.</summary>
        private static TensorData Gather(TensorData x, long[] shape, AxisResampling?[] resampling, TensorData fill)
        {
            var y = TensorData.Zeros(x.ElementType, shape);
            switch (x.ElementType.StorageSize())
            {
                case 1: GatherBits<byte>(x, y, resampling, fill); break;
                case 2: GatherBits<ushort>(x, y, resampling, fill); break;
                case 4: GatherBits<uint>(x, y, resampling, fill); break;
                default: GatherBits<ulong>(x, y, resampling, fill); break;
            }
            return y;
        }

        private static void GatherBits<T>(TensorData x, TensorData y, AxisResampling?[] resampling, TensorData fill) where T : unmanaged
        {
            var src = MemoryMarshal.Cast<byte, T>(x.RawBytes());
            var dst = MemoryMarshal.Cast<byte, T>(y.RawBytes());
            T fillValue = MemoryMarshal.Cast<byte, T>(fill.RawBytes())[0];
            int rank = x.Rank;
            if (rank == 0) { src.CopyTo(dst); return; }
            // Per axis, the source index of each output coordinate (-1: outside, use the fill value).
            var source = new int[rank][];
            for (int a = 0; a < rank; a++)
                source[a] = Enumerable.Range(0, (int)y.Shape[a])
                    .Select(o => resampling[a] is not { } r ? o : r.Outside[o] ? -1 : r.Indices(o)[0]).ToArray();
            var inStrides = Broadcasting.Strides(x.Shape);
            int width = (int)y.Shape[^1];
            var last = source[^1];
            var coord = new int[rank - 1];
            for (int row = 0, rows = (int)(y.ElementCount / width); row < rows; row++)
            {
                long rowBase = 0;
                for (int a = 0; a < rank - 1 && rowBase >= 0; a++)
                    rowBase = source[a][coord[a]] < 0 ? -1 : rowBase + source[a][coord[a]] * inStrides[a];
                var target = dst.Slice(row * width, width);
                for (int j = 0; j < width; j++)
                    target[j] = rowBase < 0 || last[j] < 0 ? fillValue : src[(int)rowBase + last[j]];
                for (int a = rank - 2; a >= 0; a--)
                {
                    if (++coord[a] < y.Shape[a]) break;
                    coord[a] = 0;
                }
            }
        }

        /// <summary>Linear and cubic modes: floats in float or double, integers in double (truncated back).</summary>
        private static TensorData Interpolate(TensorData x, long[] shape, AxisResampling?[] resampling, double extrapolation)
        {
            if (x.ElementType.IsFloat() && !FloatCompute.UsesDouble(x.ElementType))
                return FloatCompute.Narrow(Interpolate(FloatCompute.Widen<float>(x), x.Shape, shape, resampling, extrapolation), shape, x.ElementType);
            var result = Interpolate(FloatCompute.Widen<double>(x), x.Shape, shape, resampling, extrapolation);
            return Conversions.Convert(new TensorData(ElementType.Float64, shape, result), x.ElementType);
        }

        private static T[] Interpolate<T>(T[] data, long[] inputShape, long[] shape, AxisResampling?[] resampling, double extrapolation)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            var current = (long[])inputShape.Clone();
            for (int a = 0; a < shape.Length; a++)
            {
                if (resampling[a] is not { } axis) continue;
                int outer = (int)WindowGeometry.Product(current.AsSpan(0, a)), inner = (int)WindowGeometry.Product(current.AsSpan(a + 1));
                var next = HostBuffers.Allocate<T>([outer, shape[a], inner]);
                axis.Apply<T>(data, next, outer, (int)current[a], inner);
                current[a] = shape[a];
                data = next;
            }
            if (resampling.Any(r => r is not null && r.Outside.Any(o => o))) FillOutside(data, shape, resampling, T.CreateChecked(extrapolation));
            return data;
        }

        /// <summary>tf_crop_and_resize: output elements whose coordinate falls outside the input on any axis take the extrapolation value.</summary>
        private static void FillOutside<T>(T[] data, long[] shape, AxisResampling?[] resampling, T value)
        {
            var strides = Broadcasting.Strides(shape);
            for (long i = 0; i < data.LongLength; i++)
                for (int a = 0; a < shape.Length; a++)
                    if (resampling[a] is { } r && r.Outside[i / strides[a] % shape[a]]) { data[i] = value; break; }
        }
    }
}
