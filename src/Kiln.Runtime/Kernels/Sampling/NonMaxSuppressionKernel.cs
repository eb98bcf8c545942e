using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Sampling;

/// <summary>
/// The portable "nms" kernel: NonMaxSuppression. For each batch item b and class c, the boxes
/// whose score exceeds score_threshold (when there is one) are taken by decreasing score, equal
/// scores by index; a box is kept unless its IoU with a box kept before exceeds iou_threshold,
/// until max_output_boxes_per_class are kept. Kept boxes give rows (b, c, box) in that order. Their
/// number depends on the data, so rows go to a buffer of batches·classes·boxes rows and count gets
/// how many were written; the host program copies them out. Boxes are corner pairs [y1, x1, y2, x2]
/// in either order, or [x_center, y_center, width, height] when centered. Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 box and score dtype (float) · u8 iou_threshold dtype (float) · u8 score_threshold dtype (float)
/// · u8 centered (0/1) · u8 has score_threshold (0/1)
/// </code>
/// Bindings: boxes [B, S, 4], scores [B, C, S], max_output_boxes_per_class (int64), iou_threshold,
/// score_threshold (each zero or one element; zero means absent: no boxes, 0, no threshold),
/// selected (int64 [B·C·S, 3]), count (one int64). Push constants: B, C, S. One workgroup.
/// Immutable after load; thread-safe.
/// </summary>
public sealed unsafe class NonMaxSuppressionKernel : Kernel
{
    public const string KernelName = "nms";
    public const byte Version = 1;

    private readonly DType _dtype, _iouType, _scoreType;
    private readonly bool _centered, _hasScoreThreshold;

    private NonMaxSuppressionKernel(DType dtype, DType iouType, DType scoreType, bool centered, bool hasScoreThreshold) =>
        (_dtype, _iouType, _scoreType, _centered, _hasScoreThreshold) = (dtype, iouType, scoreType, centered, hasScoreThreshold);

    public static byte[] Encode(DType dtype, DType iouType, DType scoreType, bool centered, bool hasScoreThreshold) =>
        new DescriptorWriter().U8(Version).U8((byte)dtype).U8((byte)iouType).U8((byte)scoreType)
            .U8(centered ? 1 : 0).U8(hasScoreThreshold ? 1 : 0).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Float, "box");
        var iouType = r.ReadDType(DTypeKind.Float, "iou_threshold");
        var scoreType = r.ReadDType(DTypeKind.Float, "score_threshold");
        bool centered = r.ReadFlag("center_point_box");
        bool hasScoreThreshold = r.ReadFlag("has score_threshold");
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 7, constantCount, 3);
        return new NonMaxSuppressionKernel(dtype, iouType, scoreType, centered, hasScoreThreshold);
    }

    public override string Name => KernelName;

    /// <summary>A zero- or one-element operand: its value, or null when it is empty.</summary>
    private static double? Scalar(in DispatchState d, int binding, DType dtype, string what)
    {
        long length = d.Binding(binding).Length;
        if (length == 0) return null;
        if (length != dtype.Size()) throw DispatchChecks.OutOfRange(KernelName, $"{what} must hold at most one {dtype.Name()}, its binding has {length} bytes");
        return ElementRows.LoadOne<double>(dtype, d.Binding(binding).Data);
    }

    public override void Validate(in DispatchState d)
    {
        long batches = d.Constant(0), classes = d.Constant(1), boxes = d.Constant(2);
        long rows = DispatchChecks.Product([batches, classes, boxes], KernelName, "selection capacity");
        if (boxes > int.MaxValue / 8) throw DispatchChecks.OutOfRange(KernelName, $"{boxes} boxes per batch item are too many");
        DispatchChecks.Fits(d, 0, DispatchChecks.Product([batches, boxes, 4], KernelName, "boxes"), _dtype.Size(), KernelName, "the boxes");
        DispatchChecks.Fits(d, 1, rows, _dtype.Size(), KernelName, "the scores");
        long maxLength = d.Binding(2).Length;
        if (maxLength != 0 && maxLength != sizeof(long)) throw DispatchChecks.OutOfRange(KernelName, $"max_output_boxes_per_class must hold at most one int64, its binding has {maxLength} bytes");
        if (Scalar(d, 3, _iouType, "iou_threshold") is { } iou && !(iou >= 0 && iou <= 1))
            throw DispatchChecks.OutOfRange(KernelName, $"iou_threshold {iou} must be in [0, 1]");
        Scalar(d, 4, _scoreType, "score_threshold");
        DispatchChecks.Fits(d, 5, DispatchChecks.Multiply(rows, 3, KernelName, "selection"), sizeof(long), KernelName, "the selection");
        if (d.Binding(6).Length != sizeof(long)) throw DispatchChecks.OutOfRange(KernelName, $"count must be one int64, its binding has {d.Binding(6).Length} bytes");
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) => (1, 1, 1);

    /// <summary>A box as its corners, smaller coordinate first.</summary>
    private readonly record struct Box(double Top, double Left, double Bottom, double Right)
    {
        public double Area => (Bottom - Top) * (Right - Left);

        public double IntersectionOverUnion(Box other)
        {
            double height = Math.Min(Bottom, other.Bottom) - Math.Max(Top, other.Top);
            double width = Math.Min(Right, other.Right) - Math.Max(Left, other.Left);
            if (height <= 0 || width <= 0) return 0;
            double intersection = height * width, union = Area + other.Area - intersection;
            return union > 0 ? intersection / union : 0;
        }
    }

    private Box ReadBox(byte* p)
    {
        Span<double> v = stackalloc double[4];
        var c = ElementRows.Load(_dtype, p, 4, v);
        if (_centered) return new Box(c[1] - c[3] / 2, c[0] - c[2] / 2, c[1] + c[3] / 2, c[0] + c[2] / 2);
        return new Box(Math.Min(c[0], c[2]), Math.Min(c[1], c[3]), Math.Max(c[0], c[2]), Math.Max(c[1], c[3]));
    }

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        int batches = (int)d.Constant(0), classes = (int)d.Constant(1), count = (int)d.Constant(2);
        long maxPerClass = d.Binding(2).Length == 0 ? 0 : *(long*)d.Binding(2).Data;
        double iouThreshold = Scalar(d, 3, _iouType, "iou_threshold") ?? 0;
        double? scoreThreshold = _hasScoreThreshold ? Scalar(d, 4, _scoreType, "score_threshold") : null;
        byte* boxData = d.Binding(0).Data, scoreData = d.Binding(1).Data;
        long* selected = (long*)d.Binding(5).Data;
        int size = _dtype.Size();
        var scores = new double[count];
        var candidates = new List<int>(count);
        var kept = new List<Box>();
        long written = 0;
        for (int b = 0; b < batches; b++)
            for (int c = 0; c < classes; c++)
            {
                ElementRows.Load(_dtype, scoreData + ((long)b * classes + c) * count * size, count, scores).CopyTo(scores);
                candidates.Clear();
                for (int i = 0; i < count; i++)
                    if (scoreThreshold is not { } min || scores[i] > min) candidates.Add(i);
                // Decreasing score, equal scores by index (a stable order).
                candidates.Sort((i, j) => scores[j].CompareTo(scores[i]) is var s && s != 0 ? s : i.CompareTo(j));
                kept.Clear();
                foreach (int i in candidates)
                {
                    if (kept.Count >= maxPerClass) break;
                    var box = ReadBox(boxData + ((long)b * count + i) * 4 * size);
                    bool overlaps = false;
                    foreach (var k in kept) overlaps |= k.IntersectionOverUnion(box) > iouThreshold;
                    if (overlaps) continue;
                    kept.Add(box);
                    selected[written * 3] = b;
                    selected[written * 3 + 1] = c;
                    selected[written * 3 + 2] = i;
                    written++;
                }
            }
        *(long*)d.Binding(6).Data = written;
    }
}
