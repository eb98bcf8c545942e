using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// DeformConv(X, W, offset, B, mask): convolution whose kernel taps are displaced per output
/// position. Tap t of output position o reads X at o * stride - pad + t * dilation + offset
/// (offset [N, offset_group * taps * k, out...], one k-vector per group, tap and position) by
/// multilinear interpolation, zero outside X, scaled by mask [N, offset_group * taps, out...]
/// (ones when absent). The sampled columns of each group are then multiplied by W like im2col.
/// </summary>
[OpFamily]
public static class DeformConv
{
    public static void Register(OpRegistry r) => r.Add(new DeformConvDefinition());

    private sealed class DeformConvDefinition : OpDefinition
    {
        public override string OpType => "DeformConv";
        public override int MinInputs => 3;
        public override int MaxInputs => 5;

        public override void InferTypes(InferenceContext ctx)
        {
            var et = Infer.SameElementType(ctx, 0, 1, 2, 3, 4);
            Infer.ElementTypeIn(ctx, 0, t => t.IsFloat(), "a float type");
            ctx.SetOutput(0, et, ConvolutionShapes.Infer(ctx, 0, 1, 3));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var w = ctx.Tensor(1);
            var offset = ctx.Tensor(2);
            var bias = ctx.OptionalTensor(3);
            var mask = ctx.OptionalTensor(4);
            var layout = ConvolutionShapes.Check(ctx, x, w, bias);
            var g = layout.Geometry;
            int k = g.SpatialRank, taps = (int)g.KernelSize, positions = (int)g.OutputPlane;
            long offsetGroups = ctx.Op.GetInt("offset_group", 1);
            if (offsetGroups < 1 || layout.Channels % offsetGroups != 0)
                throw ctx.Error($"offset_group {offsetGroups} must divide the {layout.Channels} input channels");
            long[] offsetShape = [layout.Batch, offsetGroups * taps * k, .. g.Output];
            long[] maskShape = [layout.Batch, offsetGroups * taps, .. g.Output];
            if (!offset.Shape.AsSpan().SequenceEqual(offsetShape))
                throw ctx.Error($"offset {TensorData.FormatShape(offset.Shape)} must be {TensorData.FormatShape(offsetShape)}");
            if (mask is not null && !mask.Shape.AsSpan().SequenceEqual(maskShape))
                throw ctx.Error($"mask {TensorData.FormatShape(mask.Shape)} must be {TensorData.FormatShape(maskShape)}");

            var xs = FloatCompute.Widen<double>(x);
            var offsets = FloatCompute.Widen<double>(offset);
            var masks = mask is null ? null : FloatCompute.Widen<double>(mask);
            var weights = FloatCompute.Widen<double>(w);
            int cg = layout.Channels / layout.Groups, mg = layout.Filters / layout.Groups;
            long channelsPerOffsetGroup = layout.Channels / offsetGroups;
            var y = HostBuffers.Allocate<double>(layout.OutputShape);
            var tapCoord = new long[k];
            var outCoord = new long[k];
            var position = new double[k];
            for (int n = 0; n < layout.Batch; n++)
            {
                // Columns [C * taps, positions]: the deformed, masked samples each filter weights.
                var columns = HostBuffers.Allocate<double>([layout.Channels, taps, positions]);
                for (int c = 0; c < layout.Channels; c++)
                {
                    long og = c / channelsPerOffsetGroup;
                    var plane = xs.AsSpan((int)((n * layout.Channels + c) * g.InputPlane), (int)g.InputPlane);
                    for (int t = 0; t < taps; t++)
                    {
                        Unflatten(t, g.Kernel, tapCoord);
                        for (int o = 0; o < positions; o++)
                        {
                            Unflatten(o, g.Output, outCoord);
                            for (int a = 0; a < k; a++)
                                position[a] = g.InputCoordinate(a, outCoord[a], tapCoord[a])
                                    + offsets[((n * offsetGroups + og) * taps + t) * k * positions + a * positions + o];
                            double scale = masks is null ? 1 : masks[((n * offsetGroups + og) * taps + t) * positions + o];
                            columns[(c * taps + t) * positions + o] = scale * Sample(plane, g.Input, position);
                        }
                    }
                }
                for (int group = 0; group < layout.Groups; group++)
                {
                    var filters = weights.AsSpan(group * mg * cg * taps, mg * cg * taps).ToArray();
                    var groupColumns = columns.AsSpan(group * cg * taps * positions, cg * taps * positions).ToArray();
                    var product = MatrixKernels.MatMul(filters, [mg, cg * taps], groupColumns, [cg * taps, positions], [mg, positions]);
                    product.CopyTo(y, ((long)n * layout.Filters + group * mg) * positions);
                }
            }
            if (bias is not null)
            {
                var b = FloatCompute.Widen<double>(bias);
                for (long i = 0; i < y.LongLength; i++) y[i] += b[i / positions % layout.Filters];
            }
            ctx.SetOutput(0, FloatCompute.Narrow(y, layout.OutputShape, x.ElementType));
        }

        private static void Unflatten(long index, long[] sizes, long[] coord)
        {
            for (int a = sizes.Length - 1; a >= 0; a--)
            {
                coord[a] = index % sizes[a];
                index /= sizes[a];
            }
        }

        /// <summary>Multilinear interpolation of a plane at a fractional position; points outside read 0.</summary>
        private static double Sample(ReadOnlySpan<double> plane, long[] size, double[] position)
        {
            int k = size.Length;
            double value = 0;
            for (int corner = 0; corner < 1 << k; corner++)
            {
                double weight = 1;
                long offset = 0;
                for (int a = 0; a < k && weight != 0; a++)
                {
                    double low = Math.Floor(position[a]);
                    bool high = (corner >> a & 1) != 0;
                    long i = (long)low + (high ? 1 : 0);
                    weight *= high ? position[a] - low : 1 - (position[a] - low);
                    if (i < 0 || i >= size[a]) weight = 0;
                    offset = offset * size[a] + i;
                }
                if (weight != 0) value += weight * plane[(int)offset];
            }
            return value;
        }
    }
}
