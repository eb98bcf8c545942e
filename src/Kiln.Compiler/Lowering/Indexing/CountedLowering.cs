using Kiln.Ir;
using Kiln.Runtime;
using Kiln.Runtime.Kernels.Indexing;
using Kiln.Runtime.Kernels.Sampling;

namespace Kiln.Compiler.Lowering.Indexing;

/// <summary>
/// Operators whose results' sizes depend on data: NonZero, Compress, Unique and NonMaxSuppression.
/// A kernel writes the results into temporaries of the largest possible size and their count into
/// an int64; the host program reads the count, gives the result the sizes inference left unknown
/// (a declared size is checked against it) and copies the first count rows out.
/// </summary>
[Lowerings]
public static class CountedLowering
{
    public static void Register(LoweringRegistry r)
    {
        r.Add("NonZero", LowerNonZero);
        r.Add("Compress", LowerCompress);
        r.Add("Unique", LowerUnique);
        r.Add("NonMaxSuppression", LowerNonMaxSuppression);
    }

    /// <summary>The count a kernel wrote into <paramref name="count"/>, as a size the host program reads after it ran.</summary>
    private static Dim ReadCount(LoweringContext ctx, TensorRef count)
    {
        string symbol = ctx.NewSymbol(ctx.Op.OpType.ToLowerInvariant() + ".count");
        ctx.Add(new ReadDimStep(count.View([]), symbol));
        return Dim.Symbol(symbol);
    }

    /// <summary>
    /// Dispatches the nonzero kernel over <paramref name="x"/> (as shape <paramref name="dims"/>):
    /// coordinates into an int64 [rank, numel] temporary, and the count read back.
    /// </summary>
    private static (TensorRef Coordinates, Dim Count) NonZeroCoordinates(LoweringContext ctx, TensorRef x, Dim[] dims)
    {
        Dim n = Layout.Product(dims);
        var coordinates = ctx.NewTemporary(DType.Int64, [dims.Length, n]);
        var count = ctx.NewTemporary(DType.Int64, [1]);
        var spec = new KernelSpec(NonZeroKernel.KernelName, NonZeroKernel.Encode(x.DType, dims.Length), 3, dims.Length + 1);
        ctx.Dispatch(spec, [x], [coordinates, count], [.. dims, n]);
        return (coordinates, ReadCount(ctx, count));
    }

    private static void LowerNonZero(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        // A scalar counts as a one-element vector.
        var dims = x.Rank == 0 ? [(Dim)1] : x.Shape;
        var (coordinates, count) = NonZeroCoordinates(ctx, x, dims);
        Dim capacity = coordinates.Shape[1];
        ctx.DefineOutputShape(0, [dims.Length, count]);
        var y = ctx.NewOutput(0);
        StridedCopy.Emit(ctx, y.Shape, new StridedView(coordinates, 0, [capacity, 1]), StridedView.Contiguous(y));
    }

    /// <summary>Compress: the positions of the condition's true entries, then a Gather along the axis.</summary>
    private static void LowerCompress(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        var condition = ctx.Input(1);
        if (condition.Rank != 1) throw ctx.Unsupported($"the condition has rank {condition.Rank} (it must be a vector)");
        var data = x;
        int axis = 0;
        if (ctx.Op.HasAttribute("axis"))
        {
            axis = (int)ctx.Op.GetInt("axis");
            if (axis < 0) axis += x.Rank;
        }
        else data = x.View([x.ElementCount]);
        var (positions, count) = NonZeroCoordinates(ctx, condition, condition.Shape);
        var shape = (Dim[])data.Shape.Clone();
        shape[axis] = count;
        ctx.DefineOutputShape(0, shape);
        // The Gather kernel checks every position against the axis size (a longer condition may only add false entries).
        Dim[] constants = [Layout.Product(data.Shape.Take(axis)), data.Shape[axis], Layout.Product(data.Shape.Skip(axis + 1)), count];
        var spec = new KernelSpec(GatherKernel.KernelName, GatherKernel.Encode(data.DType, DType.Int64), 3, 4);
        ctx.Dispatch(spec, [data, positions.View([count])], [ctx.NewOutput(0)], constants);
    }

    /// <summary>Unique: the kernel writes every result at full size; Y, the first positions and the counts are copied out.</summary>
    private static void LowerUnique(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        int axis = 0;
        var data = x;
        if (ctx.Op.HasAttribute("axis"))
        {
            axis = (int)ctx.Op.GetInt("axis");
            if (axis < 0) axis += x.Rank;
        }
        else data = x.View([x.ElementCount]);
        Dim outer = Layout.Product(data.Shape.Take(axis)), rows = data.Shape[axis], inner = Layout.Product(data.Shape.Skip(axis + 1));
        var y = ctx.NewTemporary(x.DType, [outer, rows, inner]);
        var first = ctx.NewTemporary(DType.Int64, [rows]);
        var inverse = ctx.Op.HasOutput(2) ? ctx.NewOutput(2) : ctx.NewTemporary(DType.Int64, [rows]);
        var counts = ctx.NewTemporary(DType.Int64, [rows]);
        var count = ctx.NewTemporary(DType.Int64, [1]);
        var spec = new KernelSpec(UniqueKernel.KernelName, UniqueKernel.Encode(x.DType, ctx.Op.GetInt("sorted", 1) != 0), 6, 3);
        ctx.Dispatch(spec, [data.View([outer, rows, inner])], [y, first, inverse, counts, count], [outer, rows, inner]);
        Dim u = ReadCount(ctx, count);

        var shape = (Dim[])data.Shape.Clone();
        shape[axis] = u;
        ctx.DefineOutputShape(0, shape);
        var result = ctx.NewOutput(0);
        StridedCopy.Emit(ctx, [outer, u, inner], new StridedView(y, 0, [rows * inner, inner, 1]), StridedView.Contiguous(result.View([outer, u, inner])));
        foreach (var (output, source) in new[] { (1, first), (3, counts) })
        {
            if (!ctx.Op.HasOutput(output)) continue;
            ctx.DefineOutputShape(output, [u]);
            var target = ctx.NewOutput(output);
            StridedCopy.Emit(ctx, [u], StridedView.Contiguous(source.View([u])), StridedView.Contiguous(target));
        }
    }

    /// <summary>NonMaxSuppression: absent scalar operands are bound as defaults (no boxes, IoU 0, no score threshold).</summary>
    private static void LowerNonMaxSuppression(LoweringContext ctx)
    {
        var boxes = ctx.Input(0);
        var scores = ctx.Input(1);
        if (boxes.Rank != 3 || scores.Rank != 3) throw ctx.Unsupported("boxes and scores must have rank 3");
        long centered = ctx.Op.GetInt("center_point_box", 0);
        if (centered is not (0 or 1)) throw new KilnException(ErrorCode.InvalidModel, $"{ctx.Op.Describe()}: center_point_box must be 0 or 1, is {centered}");
        Dim batches = boxes.Shape[0], classes = scores.Shape[1], count = boxes.Shape[1];
        ShapeOperands.Expect(ctx, Dim.Eq(boxes.Shape[2], 4), "boxes must be [batch, boxes, 4]");
        ShapeOperands.Expect(ctx, Dim.Eq(scores.Shape[0], batches), "scores and boxes have different batch sizes");
        ShapeOperands.Expect(ctx, Dim.Eq(scores.Shape[2], count), "scores and boxes have different box counts");
        var max = ctx.OptionalInput(2) ?? ctx.NewConstant(TensorData.Vector(0));
        var iou = ctx.OptionalInput(3) ?? ctx.NewConstant(TensorData.FromFloats([1], [0f]));
        var score = ctx.OptionalInput(4);
        var scoreBinding = score ?? ctx.NewConstant(TensorData.FromFloats([1], [0f]));
        if (max.DType != DType.Int64) throw ctx.Unsupported($"max_output_boxes_per_class of {max.DType.Name()}");
        Dim capacity = batches * classes * count;
        var selected = ctx.NewTemporary(DType.Int64, [capacity, 3]);
        var written = ctx.NewTemporary(DType.Int64, [1]);
        var descriptor = NonMaxSuppressionKernel.Encode(boxes.DType, iou.DType, scoreBinding.DType, centered == 1, score is not null);
        ctx.Dispatch(new KernelSpec(NonMaxSuppressionKernel.KernelName, descriptor, 7, 3), [boxes, scores, max, iou, scoreBinding], [selected, written], [batches, classes, count]);
        Dim k = ReadCount(ctx, written);
        ctx.DefineOutputShape(0, [k, 3]);
        var y = ctx.NewOutput(0);
        StridedCopy.Emit(ctx, [k, 3], StridedView.Contiguous(selected.View([k, 3])), StridedView.Contiguous(y));
    }
}
