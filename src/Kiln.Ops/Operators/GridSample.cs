using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// GridSample(X, grid): samples X [N, C, D1..Dk] at the normalized positions of grid
/// [N, O1..Ok, k] (coordinates in reverse axis order: x for the last axis first), giving
/// [N, C, O1..Ok]. Positions in [-1, 1] span the input's corner pixel centers (align_corners) or
/// its outer edges. mode nearest / linear / cubic (cubic with a = -0.75); padding_mode zeros reads
/// 0 outside, border clamps, reflection mirrors at the borders. Nearest rounds half to even.
/// </summary>
[OpFamily]
public static class GridSample
{
    public static void Register(OpRegistry r) => r.Add(new GridSampleDefinition());

    private enum Padding { Zeros, Border, Reflection }

    private sealed class GridSampleDefinition : OpDefinition
    {
        public override string OpType => "GridSample";
        public override int MinInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, t => t.IsNumeric(), "numeric");
            Infer.ElementTypeIn(ctx, 1, t => t.IsFloat(), "a float type");
            ReadMode(ctx.Op);
            ReadPadding(ctx.Op);
            var x = ctx.InputShape(0);
            var grid = ctx.InputShape(1);
            if (!x.IsRanked || !grid.IsRanked) throw new ShapeUnknownException();
            if (x.Rank < 3 || grid.Rank != x.Rank || (grid[^1].IsKnown && grid[^1].Value != x.Rank - 2))
                throw ctx.Error($"X {x} and grid {grid} must be [N, C, D1..Dk] and [N, O1..Ok, k]");
            ctx.SetOutput(0, ctx.InputElementType(0), new Shape([x[0], x[1], .. grid.Dims.Skip(1).Take(x.Rank - 2)]));
        }

        private static string ReadMode(Operation op)
        {
            string mode = op.GetString("mode", "linear");
            return mode is "linear" or "nearest" or "cubic" ? mode
                : throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: unknown mode '{mode}'");
        }

        private static Padding ReadPadding(Operation op) => op.GetString("padding_mode", "zeros") switch
        {
            "zeros" => Padding.Zeros,
            "border" => Padding.Border,
            "reflection" => Padding.Reflection,
            var p => throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: unknown padding_mode '{p}'"),
        };

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var grid = ctx.Tensor(1);
            int k = x.Rank - 2;
            if (k < 1 || grid.Rank != x.Rank || grid.Shape[0] != x.Shape[0] || grid.Shape[^1] != k)
                throw ctx.Error($"X {TensorData.FormatShape(x.Shape)} and grid {TensorData.FormatShape(grid.Shape)} must be [N, C, D1..Dk] and [N, O1..Ok, k]");
            var sampler = new Sampler(x.Shape[2..], ReadMode(ctx.Op), ReadPadding(ctx.Op), ctx.Op.GetInt("align_corners", 0) != 0);
            long[] shape = [x.Shape[0], x.Shape[1], .. grid.Shape[1..^1]];
            var src = FloatCompute.Widen<double>(x);
            var coords = FloatCompute.Widen<double>(grid);
            var dst = HostBuffers.Allocate<double>(shape);
            long channels = x.Shape[1], inPlane = WindowGeometry.Product(x.Shape.AsSpan(2)), outPlane = WindowGeometry.Product(shape.AsSpan(2));
            var position = new double[k];
            for (long n = 0; n < x.Shape[0]; n++)
                for (long o = 0; o < outPlane; o++)
                {
                    // grid lists x (last axis) first.
                    for (int a = 0; a < k; a++) position[a] = coords[(n * outPlane + o) * k + (k - 1 - a)];
                    var (offsets, weights) = sampler.Taps(position);
                    for (long c = 0; c < channels; c++)
                    {
                        long plane = (n * channels + c) * inPlane;
                        double value = 0;
                        for (int t = 0; t < offsets.Length; t++)
                            if (offsets[t] >= 0) value += weights[t] * src[plane + offsets[t]];
                        dst[(n * channels + c) * outPlane + o] = value;
                    }
                }
            ctx.SetOutput(0, Conversions.Convert(new TensorData(ElementType.Float64, shape, dst), x.ElementType));
        }
    }

    /// <summary>Turns one normalized grid position into input offsets (-1: a zero from padding) and weights.</summary>
    private sealed class Sampler(long[] size, string mode, Padding padding, bool alignCorners)
    {
        private const double CubicA = -0.75;

        public (long[] Offsets, double[] Weights) Taps(double[] normalized)
        {
            int k = size.Length;
            var axisIndices = new long[k][];
            var axisWeights = new double[k][];
            for (int a = 0; a < k; a++)
            {
                // The reference keeps pixel coordinates in float32.
                double v = (float)(alignCorners ? (normalized[a] + 1) / 2 * (size[a] - 1) : ((normalized[a] + 1) * size[a] - 1) / 2);
                if (mode == "nearest") v = Math.Round(v, MidpointRounding.ToEven);
                var (low, high) = Bounds(a);
                if (v < low || v > high)
                    v = padding switch { Padding.Border => Math.Clamp(v, 0, size[a] - 1), Padding.Reflection => Reflect(v, low, high), _ => v };
                (axisIndices[a], axisWeights[a]) = AxisTaps(v);
                for (int t = 0; t < axisIndices[a].Length; t++) axisIndices[a][t] = Pixel(axisIndices[a][t], a);
            }

            // The outer product of the per-axis taps.
            int count = axisIndices.Aggregate(1, (p, i) => p * i.Length);
            var offsets = new long[count];
            var weights = new double[count];
            var tap = new int[k];
            for (int t = 0; t < count; t++)
            {
                long offset = 0;
                double weight = 1;
                for (int a = 0; a < k; a++)
                {
                    long i = axisIndices[a][tap[a]];
                    offset = offset < 0 || i < 0 ? -1 : offset * size[a] + i;
                    weight *= axisWeights[a][tap[a]];
                }
                offsets[t] = offset;
                weights[t] = weight;
                for (int a = k - 1; a >= 0 && ++tap[a] == axisIndices[a].Length; a--) tap[a] = 0;
            }
            return (offsets, weights);
        }

        private (double Low, double High) Bounds(int a) => alignCorners ? (0, size[a] - 1) : (-0.5, size[a] - 0.5);

        private (long[] Indices, double[] Weights) AxisTaps(double v)
        {
            if (mode == "nearest") return ([(long)v], [1]);
            long first = (long)Math.Floor(v);
            double t = v - first;
            if (mode == "linear") return ([first, first + 1], [1 - t, t]);
            return ([first - 1, first, first + 1, first + 2], [Cubic(t + 1), Cubic(t), Cubic(1 - t), Cubic(2 - t)]);
        }

        private static double Cubic(double d)
        {
            d = Math.Abs(d);
            if (d <= 1) return ((CubicA + 2) * d - (CubicA + 3)) * d * d + 1;
            if (d < 2) return ((CubicA * d - 5 * CubicA) * d + 8 * CubicA) * d - 4 * CubicA;
            return 0;
        }

        /// <summary>The input index a tap reads, or -1 for a zero (padding_mode zeros outside the input).</summary>
        private long Pixel(long i, int a)
        {
            if (i >= 0 && i < size[a]) return i;
            return padding switch
            {
                Padding.Zeros => -1,
                Padding.Border => Math.Clamp(i, 0, size[a] - 1),
                _ => (long)Reflect(i, Bounds(a).Low, Bounds(a).High),
            };
        }

        /// <summary>Mirrors x at the borders until it lies within [low, high].</summary>
        private static double Reflect(double x, double low, double high)
        {
            double range = high - low;
            if (range <= 0) return low;
            if (x < low)
            {
                double d = low - x, r = d % range;
                return (long)(d / range) % 2 == 0 ? low + r : high - r;
            }
            if (x > high)
            {
                double d = x - high, r = d % range;
                return (long)(d / range) % 2 == 0 ? high - r : low + r;
            }
            return x;
        }
    }
}
