using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Operators that pick elements by index: Gather, GatherElements and GatherND, and the index
/// helpers the scatter operators share. Every index is checked against its axis (negative
/// indices count from the end) before it is used. Gather propagates shape values (Shape(x)[i]
/// stays symbolic).
/// </summary>
[OpFamily]
public static class Indexing
{
    public static void Register(OpRegistry r)
    {
        r.Add(new GatherDefinition());
        r.Add(new GatherElementsDefinition());
        r.Add(new GatherNDDefinition());
    }

    /// <summary>An index into an axis of the given size, negative counting from the end; an error when out of range.</summary>
    public static long CheckIndex(long index, long size, Func<string, KilnException> error)
    {
        if (index < -size || index >= size) throw error($"index {index} is out of range for an axis of size {size}");
        return index < 0 ? index + size : index;
    }

    /// <summary>Index tensors must hold int32 or int64 (checked at inference).</summary>
    public static void CheckIndexType(InferenceContext ctx, int input)
    {
        if (ctx.InputElementType(input) is not (ElementType.Int32 or ElementType.Int64))
            throw ctx.TypeError($"indices must be int32 or int64, got {ctx.InputElementType(input).OnnxName()}");
    }

    /// <summary>Gather(data, indices): data[..., indices[j...], ...] along one axis.</summary>
    private sealed class GatherDefinition : OpDefinition
    {
        public override string OpType => "Gather";
        public override int MinInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            CheckIndexType(ctx, 1);
            InferValues.ElementTypesFirst(ctx, ctx.InputElementType(0));
            var data = ctx.InputShape(0);
            var indices = ctx.InputShape(1);
            int rank = ctx.InputRank(0);
            if (rank == 0) throw ctx.Error("data must have rank 1 or more");
            int axis = Axes.Normalize(ctx.Op.GetInt("axis", 0), rank, ctx.Op);
            if (!indices.IsRanked) throw new ShapeUnknownException();
            var dims = data.Take(axis).Concat(indices).Concat(data.Skip(axis + 1)).ToArray();
            ctx.SetOutput(0, ctx.InputElementType(0), new Shape(dims));

            if (rank == 1 && indices.Rank <= 1 && ctx.InputShapeValue(0) is { } values && InferValues.KnownInts(ctx, 1) is { } picks)
                ctx.SetOutputShapeValue(0, picks.Select(i => values[CheckIndex(i, values.Length, ctx.Error)]).ToArray());
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var data = ctx.Tensor(0);
            var indices = ctx.Tensor(1);
            if (data.Rank == 0) throw ctx.Error("data must have rank 1 or more");
            int axis = Axes.Normalize(ctx.Op.GetInt("axis", 0), data.Rank, ctx.Op);
            long size = data.Shape[axis], stride = Broadcasting.Strides(data.Shape)[axis];
            var offsets = TensorCopy.IdentityOffsets(data.Shape);
            offsets[axis] = indices.ToInt64Array().Select(i => CheckIndex(i, size, ctx.Error) * stride).ToArray();
            var shape = data.Shape.Take(axis).Concat(indices.Shape).Concat(data.Shape.Skip(axis + 1)).ToArray();
            ctx.SetOutput(0, TensorCopy.ByAxisOffsets(data, offsets).Reshape(shape));
        }
    }

    /// <summary>GatherElements(data, indices): result[i] = data[i with the axis coordinate replaced by indices[i]].</summary>
    private sealed class GatherElementsDefinition : OpDefinition
    {
        public override string OpType => "GatherElements";
        public override int MinInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            CheckIndexType(ctx, 1);
            InferValues.ElementTypesFirst(ctx, ctx.InputElementType(0));
            int rank = ctx.InputRank(0);
            Axes.Normalize(ctx.Op.GetInt("axis", 0), rank, ctx.Op);
            var indices = ctx.InputShape(1);
            if (indices.IsRanked && indices.Rank != rank) throw ctx.Error($"indices have rank {indices.Rank}, data rank {rank}");
            ctx.SetOutput(0, ctx.InputElementType(0), indices);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var data = ctx.Tensor(0);
            var indices = ctx.Tensor(1);
            int axis = Axes.Normalize(ctx.Op.GetInt("axis", 0), data.Rank, ctx.Op);
            var sources = ElementOffsets(data.Shape, indices, axis, ctx.Error);
            ctx.SetOutput(0, TensorCopy.ByRuns(data, sources, 1, indices.Shape));
        }
    }

    /// <summary>
    /// For each element of an index tensor of the data's rank, the flat offset in data of the
    /// element it names: its own coordinates, with the axis coordinate replaced by its value.
    /// Shared by GatherElements and ScatterElements.
    /// </summary>
    public static long[] ElementOffsets(long[] dataShape, TensorData indices, int axis, Func<string, KilnException> error)
    {
        if (indices.Rank != dataShape.Length) throw error($"indices have rank {indices.Rank}, data rank {dataShape.Length}");
        for (int d = 0; d < dataShape.Length; d++)
            if (d != axis && indices.Shape[d] > dataShape[d])
                throw error($"indices shape {TensorData.FormatShape(indices.Shape)} exceeds data shape {TensorData.FormatShape(dataShape)} at axis {d}");
        var strides = Broadcasting.Strides(dataShape);
        var values = indices.ToInt64Array();
        var offsets = new long[values.Length];
        // Walk the indices in row-major order; the offset of the coordinates off the axis advances like an odometer.
        var coordinate = new long[dataShape.Length];
        long offAxis = 0;
        for (long i = 0; i < values.LongLength; i++)
        {
            offsets[i] = offAxis + CheckIndex(values[i], dataShape[axis], error) * strides[axis];
            for (int d = coordinate.Length - 1; d >= 0; d--)
            {
                long step = d == axis ? 0 : strides[d];
                offAxis += step;
                if (++coordinate[d] < indices.Shape[d]) break;
                offAxis -= step * coordinate[d];
                coordinate[d] = 0;
            }
        }
        return offsets;
    }

    /// <summary>
    /// Where the index tuples of GatherND / ScatterND point: indices[..., k] names a slice
    /// data[b..., i0, ..., ik-1, :, ...]; the result is each slice's flat start and the slice length.
    /// The first <paramref name="batchDims"/> axes of indices and data are shared batch axes.
    /// </summary>
    public static (long[] Starts, long SliceLength) SliceOffsets(long[] dataShape, TensorData indices, int batchDims, Func<string, KilnException> error)
    {
        if (indices.Rank < 1) throw error("indices must have rank 1 or more");
        int k = (int)indices.Shape[^1];
        if (batchDims < 0 || batchDims >= Math.Min(indices.Rank, dataShape.Length) || k < 1 || batchDims + k > dataShape.Length)
            throw error($"index tuples of length {k} with batch_dims {batchDims} do not fit data of rank {dataShape.Length}");
        for (int d = 0; d < batchDims; d++)
            if (indices.Shape[d] != dataShape[d])
                throw error($"batch dimension {d} differs: indices {indices.Shape[d]}, data {dataShape[d]}");
        var strides = Broadcasting.Strides(dataShape);
        long sliceLength = dataShape.Skip(batchDims + k).Aggregate(1L, (a, b) => a * b);
        long batchStride = batchDims == 0 ? 0 : strides[batchDims - 1];
        long tuplesPerBatch = indices.Shape.Skip(batchDims).SkipLast(1).Aggregate(1L, (a, b) => a * b);
        var values = indices.ToInt64Array();
        var starts = new long[values.Length / k];
        for (long t = 0; t < starts.LongLength; t++)
        {
            long offset = tuplesPerBatch == 0 ? 0 : t / tuplesPerBatch * batchStride;
            for (int j = 0; j < k; j++)
                offset += CheckIndex(values[t * k + j], dataShape[batchDims + j], error) * strides[batchDims + j];
            starts[t] = offset;
        }
        return (starts, sliceLength);
    }

    /// <summary>GatherND(data, indices): slices of data named by the index tuples in the last axis of indices.</summary>
    private sealed class GatherNDDefinition : OpDefinition
    {
        public override string OpType => "GatherND";
        public override int MinInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            CheckIndexType(ctx, 1);
            InferValues.ElementTypesFirst(ctx, ctx.InputElementType(0));
            var data = ctx.InputShape(0);
            var indices = ctx.InputShape(1);
            int rank = ctx.InputRank(0);
            int batchDims = (int)ctx.Op.GetInt("batch_dims", 0);
            if (!indices.IsRanked || !indices[^1].TryGetValue(out long k))
            {
                ctx.SetOutput(0, ctx.InputElementType(0), Shape.Unranked);
                return;
            }
            if (batchDims < 0 || batchDims >= Math.Min(indices.Rank, rank) || k < 1 || batchDims + k > rank)
                throw ctx.Error($"index tuples of length {k} with batch_dims {batchDims} do not fit data of rank {rank}");
            var dims = indices.Take(indices.Rank - 1).Concat(data.Skip(batchDims + (int)k));
            ctx.SetOutput(0, ctx.InputElementType(0), new Shape(dims));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var data = ctx.Tensor(0);
            var indices = ctx.Tensor(1);
            int batchDims = (int)ctx.Op.GetInt("batch_dims", 0);
            var (starts, length) = SliceOffsets(data.Shape, indices, batchDims, ctx.Error);
            int k = (int)indices.Shape[^1];
            var shape = indices.Shape.SkipLast(1).Concat(data.Shape.Skip(batchDims + k)).ToArray();
            ctx.SetOutput(0, TensorCopy.ByRuns(data, starts, length, shape));
        }
    }
}
