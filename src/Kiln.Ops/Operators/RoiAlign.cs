using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// RoiAlign(X [N, C, H, W], rois [R, 4] as (x1, y1, x2, y2), batch_indices [R]) -> [R, C, oh, ow].
/// Each region (scaled by spatial_scale, shifted by half a pixel in half_pixel mode) is split into
/// oh x ow bins; each bin samples a regular grid of points (sampling_ratio per axis, or
/// ceil(bin size) when 0) by bilinear interpolation, and reduces them by their average, or in max
/// mode by the largest weighted corner value (as the ONNX reference and ONNX Runtime do).
/// </summary>
[OpFamily]
public static class RoiAlign
{
    public static void Register(OpRegistry r) => r.Add(new RoiAlignDefinition());

    private sealed class RoiAlignDefinition : OpDefinition
    {
        /// <summary>The largest sampling grid side a bin may use (a guard against absurd boxes).</summary>
        private const long MaxGrid = 1 << 12;

        public override string OpType => "RoiAlign";
        public override int MinInputs => 3;

        public override void InferTypes(InferenceContext ctx)
        {
            var et = Infer.SameElementType(ctx, 0, 1);
            Infer.ElementTypeIn(ctx, 0, t => t.IsFloat(), "a float type");
            Infer.ElementTypeIn(ctx, 2, t => t == ElementType.Int64, "int64");
            var x = ctx.InputShape(0);
            var rois = ctx.InputShape(1);
            if (x.IsRanked && x.Rank != 4) throw ctx.Error($"X must be [N, C, H, W], got {x}");
            Dim count = rois.IsRanked ? rois[0] : ctx.InputShape(2) is { IsRanked: true } b ? b[0] : Dim.Unknown();
            Dim channels = x.IsRanked ? x[1] : Dim.Unknown();
            ctx.SetOutput(0, et, Shape.Of(count, channels, ctx.Op.GetInt("output_height", 1), ctx.Op.GetInt("output_width", 1)));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var rois = ctx.Tensor(1);
            var batchIndices = ctx.Tensor(2).ToInt64Array();
            if (x.Rank != 4) throw ctx.Error($"X must be [N, C, H, W], got {TensorData.FormatShape(x.Shape)}");
            if (rois.Rank != 2 || rois.Shape[1] != 4 || rois.Shape[0] != batchIndices.Length)
                throw ctx.Error($"rois {TensorData.FormatShape(rois.Shape)} must be [{batchIndices.Length}, 4], one box per batch index");
            var op = ctx.Op;
            long outH = op.GetInt("output_height", 1), outW = op.GetInt("output_width", 1), samplingRatio = op.GetInt("sampling_ratio", 0);
            if (outH < 1 || outW < 1 || samplingRatio < 0) throw ctx.Error("output_height and output_width must be positive, sampling_ratio not negative");
            double scale = op.GetFloat("spatial_scale", 1);
            string mode = op.GetString("mode", "avg");
            if (mode is not ("avg" or "max")) throw ctx.Error($"unknown mode '{mode}'");
            string transform = op.GetString("coordinate_transformation_mode", "half_pixel");
            if (transform is not ("half_pixel" or "output_half_pixel")) throw ctx.Error($"unknown coordinate_transformation_mode '{transform}'");
            bool halfPixel = transform == "half_pixel";

            long channels = x.Shape[1], height = x.Shape[2], width = x.Shape[3];
            var src = FloatCompute.Widen<double>(x);
            var boxes = FloatCompute.Widen<double>(rois);
            long[] shape = [batchIndices.Length, channels, outH, outW];
            var dst = HostBuffers.Allocate<double>(shape);
            for (int r = 0; r < batchIndices.Length; r++)
            {
                if (batchIndices[r] < 0 || batchIndices[r] >= x.Shape[0])
                    throw ctx.Error($"batch index {batchIndices[r]} is out of range for {x.Shape[0]} images");
                double offset = halfPixel ? 0.5 : 0;
                double startW = boxes[r * 4] * scale - offset, startH = boxes[r * 4 + 1] * scale - offset;
                double roiW = boxes[r * 4 + 2] * scale - offset - startW, roiH = boxes[r * 4 + 3] * scale - offset - startH;
                if (!halfPixel)
                {
                    // Malformed boxes become 1 x 1.
                    roiW = Math.Max(roiW, 1);
                    roiH = Math.Max(roiH, 1);
                }
                if (!double.IsFinite(roiH) || !double.IsFinite(roiW)) throw ctx.Error($"region {r} has a non-finite size");
                double binH = roiH / outH, binW = roiW / outW;
                long gridH = samplingRatio > 0 ? samplingRatio : (long)Math.Ceiling(roiH / outH);
                long gridW = samplingRatio > 0 ? samplingRatio : (long)Math.Ceiling(roiW / outW);
                if (gridH > MaxGrid || gridW > MaxGrid) throw ctx.Error($"region {r} needs a {gridH} x {gridW} sampling grid per bin; set sampling_ratio");
                long samples = Math.Max(gridH * gridW, 1);

                for (long ph = 0; ph < outH; ph++)
                    for (long pw = 0; pw < outW; pw++)
                    {
                        var points = new List<Bilinear>();
                        for (long iy = 0; iy < gridH; iy++)
                            for (long ix = 0; ix < gridW; ix++)
                                points.Add(Bilinear.At(startH + ph * binH + (iy + 0.5) * binH / gridH,
                                    startW + pw * binW + (ix + 0.5) * binW / gridW, height, width));
                        for (long c = 0; c < channels; c++)
                        {
                            var plane = src.AsSpan((int)((batchIndices[r] * channels + c) * height * width), (int)(height * width));
                            double value = 0;
                            for (int i = 0; i < points.Count; i++)
                            {
                                if (mode == "avg") value += points[i].Interpolate(plane);
                                else value = i == 0 ? points[i].LargestCorner(plane) : Math.Max(value, points[i].LargestCorner(plane));
                            }
                            dst[((r * channels + c) * outH + ph) * outW + pw] = mode == "avg" ? value / samples : value;
                        }
                    }
            }
            ctx.SetOutput(0, FloatCompute.Narrow(dst, shape, x.ElementType));
        }
    }

    /// <summary>One sampling point: four corner offsets and their weights (all zero outside the image).</summary>
    private readonly record struct Bilinear(int P1, int P2, int P3, int P4, double W1, double W2, double W3, double W4)
    {
        public static Bilinear At(double y, double x, long height, long width)
        {
            if (y < -1 || y > height || x < -1 || x > width) return default;
            y = Math.Max(y, 0);
            x = Math.Max(x, 0);
            long yLow = (long)y, xLow = (long)x, yHigh, xHigh;
            if (yLow >= height - 1) { yHigh = yLow = height - 1; y = yLow; } else yHigh = yLow + 1;
            if (xLow >= width - 1) { xHigh = xLow = width - 1; x = xLow; } else xHigh = xLow + 1;
            double ly = y - yLow, lx = x - xLow, hy = 1 - ly, hx = 1 - lx;
            return new Bilinear((int)(yLow * width + xLow), (int)(yLow * width + xHigh), (int)(yHigh * width + xLow), (int)(yHigh * width + xHigh),
                hy * hx, hy * lx, ly * hx, ly * lx);
        }

        public double Interpolate(ReadOnlySpan<double> plane) =>
            W1 * plane[P1] + W2 * plane[P2] + W3 * plane[P3] + W4 * plane[P4];

        public double LargestCorner(ReadOnlySpan<double> plane) =>
            Math.Max(Math.Max(W1 * plane[P1], W2 * plane[P2]), Math.Max(W3 * plane[P3], W4 * plane[P4]));
    }
}
