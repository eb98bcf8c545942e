using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Col2Im(input [N, C * prod(block_shape), L], image_shape, block_shape) -> [N, C, image_shape...]:
/// the inverse of im2col. Column (c, tap) of block position b holds the image element the
/// sliding block at b covers with that tap (positions as in convolution: strides, dilations,
/// pads); overlapping contributions add up. L must equal the number of block positions.
/// </summary>
[OpFamily]
public static class Col2Im
{
    public static void Register(OpRegistry r) => r.Add(new Col2ImDefinition());

    private sealed class Col2ImDefinition : OpDefinition
    {
        public override string OpType => "Col2Im";
        public override int MinInputs => 3;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, t => t.IsNumeric(), "numeric");
            var x = ctx.InputShape(0);
            if (x.IsRanked && x.Rank != 3) throw ctx.Error($"input must be [N, C * block size, L], got {x}");
            var image = ctx.InputShapeValue(1);
            var block = ctx.InputShapeValue(2);
            if (image is null)
            {
                var imageShape = ctx.InputShape(1);
                if (!imageShape.IsRanked || !imageShape[0].IsKnown) throw new ShapeUnknownException();
                image = Enumerable.Range(0, (int)imageShape[0].Value).Select(_ => Dim.Unknown()).ToArray();
            }
            Dim channels = Dim.Unknown();
            if (x.IsRanked && block is not null && block.All(d => d.IsKnown))
            {
                long blockSize = block.Aggregate(1L, (p, d) => p * d.Value);
                channels = x[1].IsKnown ? x[1].Value / blockSize : x[1] / blockSize;
            }
            ctx.SetOutput(0, ctx.InputElementType(0), new Shape([x.IsRanked ? x[0] : Dim.Unknown(), channels, .. image]));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var image = ctx.Tensor(1).ToInt64Array();
            var block = ctx.Tensor(2).ToInt64Array();
            int k = image.Length;
            if (x.Rank != 3 || block.Length != k || k == 0)
                throw ctx.Error($"input {TensorData.FormatShape(x.Shape)}, image_shape {TensorData.FormatShape(image)} and block_shape {TensorData.FormatShape(block)} do not fit");
            long blockSize = WindowGeometry.Product(block);
            if (blockSize < 1 || x.Shape[1] % blockSize != 0)
                throw ctx.Error($"input dimension 1 ({x.Shape[1]}) must be a multiple of the block size {blockSize}");
            if (image.Any(s => s < 1)) throw ctx.Error($"image_shape {TensorData.FormatShape(image)} must be positive");
            var window = WindowAttributes.Read(ctx.Op, k, block);
            var geometry = window.Resolve(image, ctx.Op);
            if (geometry.OutputPlane != x.Shape[2])
                throw ctx.Error($"input has {x.Shape[2]} block positions, the image and block shapes give {TensorData.FormatShape(geometry.Output)}");
            long[] shape = [x.Shape[0], x.Shape[1] / blockSize, .. image];

            var input = Dispatch.IsNativeNumeric(x.ElementType) ? x : Conversions.ToFloat32(x);
            var y = Dispatch.Numeric<Scatter, TensorData>(input.ElementType, new Scatter(input, shape, geometry));
            ctx.SetOutput(0, Conversions.Convert(y, x.ElementType));
        }
    }

    private readonly struct Scatter(TensorData x, long[] shape, WindowGeometry geometry) : INumericVisitor<TensorData>
    {
        public TensorData Visit<T>() where T : unmanaged, INumber<T>
        {
            var rows = new WindowRows(geometry);
            var src = x.Data<T>();
            var result = TensorData.Zeros(x.ElementType, shape);
            var dst = result.Data<T>();
            int planes = (int)(shape[0] * shape[1]), taps = (int)geometry.KernelSize;
            int imagePlane = (int)geometry.InputPlane, blocks = (int)geometry.OutputPlane;
            for (int p = 0; p < planes; p++)
            {
                var plane = dst.AsSpan(p * imagePlane, imagePlane);
                for (int q = 0; q < rows.OuterTaps; q++)
                    for (int j = 0; j < rows.RowTaps; j++)
                    {
                        var column = src.AsSpan((p * taps + q * rows.RowTaps + j) * blocks, blocks);
                        var (start, end, offset) = rows.Taps[j];
                        for (int r = 0; r < rows.OutputRows; r++)
                        {
                            int imageRow = rows.InputRow[r * rows.OuterTaps + q];
                            if (imageRow < 0) continue;
                            var target = plane.Slice(imageRow * rows.InputRowLength, rows.InputRowLength);
                            var source = column.Slice(r * rows.OutputRowLength, rows.OutputRowLength);
                            for (int o = start; o < end; o++) target[o * rows.Stride + offset] += source[o];
                        }
                    }
            }
            return result;
        }
    }
}
