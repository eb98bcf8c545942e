using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Operators that pick elements by index or by mask: Gather, GatherElements, GatherND, Compress,
/// NonZero and OneHot. Every index is checked against its axis (negative indices count from
/// the end) before it is used. Gather propagates shape values (Shape(x)[i] stays symbolic).
/// </summary>
[OpFamily]
public static class Indexing
{
    public static void Register(OpRegistry r)
    {
        r.Add(new GatherDefinition());
        r.Add(new GatherElementsDefinition());
        r.Add(new GatherNDDefinition());
        r.Add(new CompressDefinition());
        r.Add(new NonZeroDefinition());
        r.Add(new OneHotDefinition());
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

    /// <summary>Compress(x, condition): the slices along an axis (or the elements of flattened x) where condition is true.</summary>
    private sealed class CompressDefinition : OpDefinition
    {
        public override string OpType => "Compress";
        public override int MinInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 1, t => t == ElementType.Bool, "bool");
            var et = ctx.InputElementType(0);
            InferValues.ElementTypesFirst(ctx, et);
            var s = ctx.InputShape(0);
            int rank = ctx.InputRank(0);
            Dim kept = ctx.InputConstant(1) is { } condition ? condition.Data<bool>().Count(c => c) : Dim.Unknown();
            if (ctx.Op.HasAttribute("axis"))
                ctx.SetOutput(0, et, s.With(Axes.Normalize(ctx.Op.GetInt("axis"), rank, ctx.Op), kept));
            else ctx.SetOutput(0, et, Shape.Of(kept));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var condition = ctx.Tensor(1);
            if (condition.ElementType != ElementType.Bool || condition.Rank != 1)
                throw ctx.Error($"condition must be a bool vector, got {condition.Type}");
            int axis = 0;
            if (ctx.Op.HasAttribute("axis")) axis = Axes.Normalize(ctx.Op.GetInt("axis"), x.Rank, ctx.Op);
            else x = x.Reshape([x.ElementCount]);
            long size = x.Shape[axis];
            var flags = condition.Data<bool>();
            // A shorter condition drops the remaining slices; a longer one may only add false entries.
            if (flags.Skip((int)Math.Min(size, flags.Length)).Any(c => c))
                throw ctx.Error($"condition selects index {Array.LastIndexOf(flags, true)}, beyond axis size {size}");
            long stride = Broadcasting.Strides(x.Shape)[axis];
            var offsets = TensorCopy.IdentityOffsets(x.Shape);
            offsets[axis] = Enumerable.Range(0, flags.Length).Where(i => flags[i]).Select(i => i * stride).ToArray();
            ctx.SetOutput(0, TensorCopy.ByAxisOffsets(x, offsets));
        }
    }

    /// <summary>NonZero(x): the coordinates of the nonzero elements, as an int64 [rank, count] tensor in row-major order.</summary>
    private sealed class NonZeroDefinition : OpDefinition
    {
        public override string OpType => "NonZero";

        public override void InferTypes(InferenceContext ctx)
        {
            InferValues.ElementTypesFirst(ctx, ElementType.Int64);
            ctx.SetOutput(0, ElementType.Int64, Shape.Of(Math.Max(ctx.InputRank(0), 1), Dim.Unknown()));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            // A scalar counts as a one-element vector (as numpy does).
            var shape = x.Rank == 0 ? new long[] { 1 } : x.Shape;
            var nonzero = x.ElementType == ElementType.String
                ? x.Data<string>().Select(s => s.Length > 0).ToArray()
                : Conversions.Convert(x, ElementType.Bool).Data<bool>();
            int count = nonzero.Count(b => b);
            var result = new long[shape.Length * count];
            var strides = Broadcasting.Strides(shape);
            for (int i = 0, k = 0; i < nonzero.Length; i++)
            {
                if (!nonzero[i]) continue;
                for (int d = 0; d < shape.Length; d++) result[d * count + k] = i / strides[d] % shape[d];
                k++;
            }
            ctx.SetOutput(0, TensorData.FromInt64s([shape.Length, count], result));
        }
    }

    /// <summary>OneHot(indices, depth, values): a new axis of length depth holding values[1] at each index and values[0] elsewhere.</summary>
    private sealed class OneHotDefinition : OpDefinition
    {
        public override string OpType => "OneHot";
        public override int MinInputs => 3;

        private static int Axis(Operation op, int indicesRank) => Axes.Normalize(op.GetInt("axis", -1), indicesRank + 1, op);

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, t => t.IsNumeric(), "numeric");
            Infer.ElementTypeIn(ctx, 1, t => t.IsNumeric(), "numeric");
            InferValues.ElementTypesFirst(ctx, ctx.InputElementType(2));
            var indices = ctx.InputShape(0);
            int axis = Axis(ctx.Op, ctx.InputRank(0));
            Dim depth = Dim.Unknown();
            if (ctx.InputConstant(1) is { ElementCount: 1 } d)
            {
                depth = (long)d.GetDouble(0);
                if (depth.Value < 1) throw ctx.Error($"depth {depth} must be positive");
            }
            var dims = indices.Take(axis).Append(depth).Concat(indices.Skip(axis));
            ctx.SetOutput(0, ctx.InputElementType(2), new Shape(dims));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var indices = ctx.Tensor(0);
            var depthTensor = ctx.Tensor(1);
            var values = ctx.Tensor(2);
            if (depthTensor.ElementCount != 1) throw ctx.Error($"depth must hold one value, has shape {TensorData.FormatShape(depthTensor.Shape)}");
            if (values.ElementCount != 2) throw ctx.Error($"values must hold [off, on], has shape {TensorData.FormatShape(values.Shape)}");
            long depth = (long)depthTensor.GetDouble(0);
            if (depth < 1) throw ctx.Error($"depth {depth} must be positive");
            int axis = Axis(ctx.Op, indices.Rank);

            // The result is [outer, depth, inner] around the new axis; each element reads values[0] or values[1].
            long outer = indices.Shape.Take(axis).Aggregate(1L, (a, b) => a * b);
            long inner = indices.ElementCount / Math.Max(outer, 1);
            var shape = indices.Shape.Take(axis).Append(depth).Concat(indices.Shape.Skip(axis)).ToArray();
            TensorCopy.CheckResultShape(shape, ctx.Error);
            var choice = new long[outer * depth * inner];
            for (long o = 0; o < outer; o++)
                for (long i = 0; i < inner; i++)
                {
                    // Indices are truncated to integers; negative ones count from the end; others out of range are all "off".
                    long index = (long)indices.GetDouble(o * inner + i);
                    if (index < 0) index += depth;
                    if (index >= 0 && index < depth) choice[(o * depth + index) * inner + i] = 1;
                }
            ctx.SetOutput(0, TensorCopy.ByRuns(values.Reshape([2]), choice, 1, shape));
        }
    }
}
