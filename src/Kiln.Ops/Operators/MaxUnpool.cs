using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// MaxUnpool(X, I, output_shape): the partial inverse of MaxPool. Each X element is written at
/// the flat position I gives within a zero tensor of the unpooled shape
/// [N, C, (in - 1) * stride - pad_begin - pad_end + kernel]. As in the ONNX reference, a larger
/// output_shape places that tensor at the origin of a zero tensor of output_shape (the indices
/// address the unpooled shape, not output_shape).
/// </summary>
[OpFamily]
public static class MaxUnpool
{
    public static void Register(OpRegistry r) => r.Add(new MaxUnpoolDefinition());

    private sealed class MaxUnpoolDefinition : OpDefinition
    {
        public override string OpType => "MaxUnpool";
        public override int MinInputs => 2;
        public override int MaxInputs => 3;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, t => t.IsFloat(), "a float type");
            Infer.ElementTypeIn(ctx, 1, t => t == ElementType.Int64, "int64");
            var et = ctx.InputElementType(0);
            var x = ctx.InputShape(0);
            if (ctx.HasInput(2))
            {
                if (ctx.InputShapeValue(2) is { } given) { ctx.SetOutput(0, et, new Shape(given)); return; }
                var rank = x.IsRanked ? x.Rank : throw new ShapeUnknownException();
                ctx.SetOutput(0, et, new Shape(Enumerable.Range(0, rank).Select(_ => Dim.Unknown())));
                return;
            }
            if (!x.IsRanked) throw new ShapeUnknownException();
            if (x.Rank < 3) throw ctx.Error($"X must have rank 3 or more, got {x}");
            var window = WindowAttributes.Read(ctx.Op, x.Rank - 2, null);
            ctx.SetOutput(0, et, new Shape(x.Dims.Select((d, i) => i < 2 ? d : Unpooled(window, d, i - 2))));
        }

        private static Dim Unpooled(WindowAttributes w, Dim input, int axis) =>
            (input - 1) * w.Strides[axis] - (w.Pads[axis] + w.Pads[axis + w.SpatialRank]) + w.Kernel[axis];

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var indices = ctx.Tensor(1);
            if (x.Rank < 3) throw ctx.Error($"X must have rank 3 or more, got {TensorData.FormatShape(x.Shape)}");
            if (!indices.Shape.AsSpan().SequenceEqual(x.Shape))
                throw ctx.Error($"I {TensorData.FormatShape(indices.Shape)} must have the shape of X {TensorData.FormatShape(x.Shape)}");
            var window = WindowAttributes.Read(ctx.Op, x.Rank - 2, null);
            long[] unpooled = [.. x.Shape.Select((d, i) => i < 2 ? d : Unpooled(window, d, i - 2).Value)];
            long[] shape = ctx.OptionalTensor(2)?.ToInt64Array() ?? unpooled;
            if (shape.Length != x.Rank || shape.Zip(unpooled).Any(p => p.First < p.Second))
                throw ctx.Error($"output_shape {TensorData.FormatShape(shape)} must have the rank of X and be at least the unpooled shape {TensorData.FormatShape(unpooled)}");

            var y = TensorData.Zeros(x.ElementType, shape);
            long count = TensorData.CheckedCount(unpooled);
            var unpooledStrides = Broadcasting.Strides(unpooled);
            var strides = Broadcasting.Strides(shape);
            var positions = indices.Data<long>();
            for (long i = 0; i < positions.LongLength; i++)
            {
                long flat = positions[i];
                if (flat < 0 || flat >= count) throw ctx.Error($"index {flat} is outside the unpooled tensor {TensorData.FormatShape(unpooled)}");
                long target = 0;
                for (int a = 0; a < shape.Length; a++) target += flat / unpooledStrides[a] % unpooled[a] * strides[a];
                Array.Copy(x.Storage, i, y.Storage, target, 1);
            }
            ctx.SetOutput(0, y);
        }
    }
}
