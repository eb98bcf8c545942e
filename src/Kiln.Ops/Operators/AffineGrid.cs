using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// AffineGrid(theta, size): the sampling grid GridSample takes for an affine transform. For
/// size [N, C, H, W] and theta [N, 2, 3] the result is [N, H, W, 2] with
/// grid[n, h, w] = theta[n] * (x_w, y_h, 1), where x and y are the normalized pixel positions
/// (-1 + 2i / (size - 1) with align_corners, else -1 + (2i + 1) / size); 3-D likewise with
/// theta [N, 3, 4] and (x, y, z, 1).
/// </summary>
[OpFamily]
public static class AffineGrid
{
    public static void Register(OpRegistry r) => r.Add(new AffineGridDefinition());

    private sealed class AffineGridDefinition : OpDefinition
    {
        public override string OpType => "AffineGrid";
        public override int MinInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, t => t.IsFloat(), "a float type");
            Infer.ElementTypeIn(ctx, 1, t => t == ElementType.Int64, "int64");
            var et = ctx.InputElementType(0);
            if (ctx.InputShapeValue(1) is { Length: 4 or 5 } size)
            {
                ctx.SetOutput(0, et, new Shape([size[0], .. size.Skip(2), size.Length - 2]));
                return;
            }
            var theta = ctx.InputShape(0);
            if (!theta.IsRanked || theta.Rank != 3 || !theta[1].IsKnown) throw new ShapeUnknownException();
            int k = (int)theta[1].Value;
            ctx.SetOutput(0, et, new Shape([theta[0], .. Enumerable.Range(0, k).Select(_ => Dim.Unknown()), k]));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var theta = ctx.Tensor(0);
            var size = ctx.Tensor(1).ToInt64Array();
            if (size.Length is not (4 or 5)) throw ctx.Error($"size must be [N, C, H, W] or [N, C, D, H, W], got {size.Length} values");
            int k = size.Length - 2;
            long n = size[0];
            if (theta.Rank != 3 || theta.Shape[0] != n || theta.Shape[1] != k || theta.Shape[2] != k + 1)
                throw ctx.Error($"theta {TensorData.FormatShape(theta.Shape)} must be [{n}, {k}, {k + 1}] for size {TensorData.FormatShape(size)}");
            if (size.Skip(2).Any(s => s < 1)) throw ctx.Error($"size {TensorData.FormatShape(size)} has an empty spatial axis");
            bool alignCorners = ctx.Op.GetInt("align_corners", 0) != 0;

            var spatial = size[2..];
            long[] shape = [n, .. spatial, k];
            var t = FloatCompute.Widen<double>(theta);
            var grid = HostBuffers.Allocate<double>(shape);
            long points = WindowGeometry.Product(spatial);
            // Homogeneous base coordinates: the last spatial axis is x, so the vector lists axes in reverse.
            var point = new double[k + 1];
            point[k] = 1;
            for (long p = 0; p < points; p++)
            {
                for (int a = 0; a < k; a++)
                {
                    long i = p / WindowGeometry.Product(spatial.AsSpan(a + 1)) % spatial[a];
                    point[k - 1 - a] = Normalized(i, spatial[a], alignCorners);
                }
                for (long b = 0; b < n; b++)
                    for (int row = 0; row < k; row++)
                    {
                        double sum = 0;
                        for (int col = 0; col <= k; col++) sum += t[(b * k + row) * (k + 1) + col] * point[col];
                        grid[(b * points + p) * k + row] = sum;
                    }
            }
            ctx.SetOutput(0, FloatCompute.Narrow(grid, shape, theta.ElementType));
        }

        private static double Normalized(long i, long size, bool alignCorners) =>
            alignCorners ? (size == 1 ? -1 : -1 + 2.0 * i / (size - 1)) : -1 + (2.0 * i + 1) / size;
    }
}
