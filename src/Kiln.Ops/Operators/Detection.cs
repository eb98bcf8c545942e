using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>NonMaxSuppression: greedy selection of high-scoring, little-overlapping boxes, per batch item and class.</summary>
[OpFamily]
public static class Detection
{
    public static void Register(OpRegistry r) => r.Add(new NonMaxSuppressionDefinition());

    /// <summary>
    /// NonMaxSuppression(boxes [B, S, 4], scores [B, C, S], max_output_boxes_per_class?, iou_threshold?,
    /// score_threshold?) -> [K, 3] rows of (batch, class, box). For each batch item and class, boxes
    /// scoring above score_threshold are taken by decreasing score (ties by index); a box is kept
    /// unless its IoU with an already kept box exceeds iou_threshold, until
    /// max_output_boxes_per_class are kept (none when it is absent or 0). Boxes are corner pairs
    /// [y1, x1, y2, x2] in either order, or [x_center, y_center, width, height] when center_point_box is 1.
    /// </summary>
    private sealed class NonMaxSuppressionDefinition : OpDefinition
    {
        public override string OpType => "NonMaxSuppression";
        public override int MinInputs => 2;
        public override int MaxInputs => 5;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, t => t.IsFloat(), "a float type");
            Infer.SameElementType(ctx, 0, 1);
            var (boxes, scores) = (ctx.InputShape(0), ctx.InputShape(1));
            if (boxes.IsRanked && (boxes.Rank != 3 || (boxes[2].IsKnown && boxes[2].Value != 4)))
                throw ctx.Error($"boxes must be [batch, boxes, 4], have shape {boxes}");
            if (scores.IsRanked && scores.Rank != 3) throw ctx.Error($"scores must be [batch, classes, boxes], have shape {scores}");
            ctx.SetOutput(0, ElementType.Int64, Shape.Of(Dim.Unknown(), 3));
        }

        /// <summary>A box as its corners, smaller coordinate first.</summary>
        private readonly record struct Box(double Top, double Left, double Bottom, double Right)
        {
            public double Area => (Bottom - Top) * (Right - Left);

            public static Box Read(TensorData boxes, long offset, bool centered)
            {
                double a = boxes.GetDouble(offset), b = boxes.GetDouble(offset + 1), c = boxes.GetDouble(offset + 2), d = boxes.GetDouble(offset + 3);
                if (centered) return new Box(b - d / 2, a - c / 2, b + d / 2, a + c / 2);
                return new Box(Math.Min(a, c), Math.Min(b, d), Math.Max(a, c), Math.Max(b, d));
            }

            public double IntersectionOverUnion(Box other)
            {
                double height = Math.Min(Bottom, other.Bottom) - Math.Max(Top, other.Top);
                double width = Math.Min(Right, other.Right) - Math.Max(Left, other.Left);
                if (height <= 0 || width <= 0) return 0;
                double intersection = height * width, union = Area + other.Area - intersection;
                return union > 0 ? intersection / union : 0;
            }
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var (boxes, scores) = (ctx.Tensor(0), ctx.Tensor(1));
            if (boxes.Rank != 3 || boxes.Shape[2] != 4) throw ctx.Error($"boxes must be [batch, boxes, 4], got {TensorData.FormatShape(boxes.Shape)}");
            if (scores.Rank != 3 || scores.Shape[0] != boxes.Shape[0] || scores.Shape[2] != boxes.Shape[1])
                throw ctx.Error($"scores {TensorData.FormatShape(scores.Shape)} do not fit boxes {TensorData.FormatShape(boxes.Shape)}");
            long maxPerClass = Scalar(ctx, 2)?.GetInt64(0) ?? 0;
            double iouThreshold = Scalar(ctx, 3)?.GetDouble(0) ?? 0;
            double? scoreThreshold = Scalar(ctx, 4)?.GetDouble(0);
            bool centered = ctx.Op.GetInt("center_point_box", 0) switch
            {
                0 => false,
                1 => true,
                var v => throw ctx.Error($"center_point_box must be 0 or 1, is {v}"),
            };
            if (iouThreshold is < 0 or > 1) throw ctx.Error($"iou_threshold {iouThreshold} must be in [0, 1]");

            long batches = boxes.Shape[0], classes = scores.Shape[1], count = boxes.Shape[1];
            var selected = new List<long>();
            var kept = new List<Box>();
            for (long b = 0; b < batches; b++)
                for (long c = 0; c < classes; c++)
                {
                    long scoreBase = (b * classes + c) * count;
                    var candidates = Enumerable.Range(0, (int)count)
                        .Where(i => scoreThreshold is not { } min || scores.GetDouble(scoreBase + i) > min)
                        .OrderByDescending(i => scores.GetDouble(scoreBase + i)) // stable: ties keep index order
                        .ToArray();
                    kept.Clear();
                    foreach (int i in candidates)
                    {
                        if (kept.Count >= maxPerClass) break;
                        var box = Box.Read(boxes, (b * count + i) * 4, centered);
                        if (kept.Any(k => k.IntersectionOverUnion(box) > iouThreshold)) continue;
                        kept.Add(box);
                        selected.AddRange([b, c, i]);
                    }
                }
            ctx.SetOutput(0, TensorData.FromInt64s([selected.Count / 3, 3], [.. selected]));
        }

        private static TensorData? Scalar(EvaluationContext ctx, int input) => ctx.OptionalTensor(input) switch
        {
            null or { ElementCount: 0 } => null,
            { ElementCount: 1 } t => t,
            var t => throw ctx.Error($"input {input} must be a scalar, has shape {TensorData.FormatShape(t.Shape)}"),
        };
    }
}
