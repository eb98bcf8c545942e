using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Slice (strided windows with clamping and negative steps) and ReverseSequence (reverse the
/// first n steps of each batch entry).
/// </summary>
[OpFamily]
public static class Slicing
{
    public static void Register(OpRegistry r)
    {
        r.Add(new SliceDefinition());
        r.Add(new ReverseSequenceDefinition());
    }

    /// <summary>One axis of a slice after clamping: the first index, the step and the number of elements.</summary>
    private readonly record struct AxisWindow(long Start, long Step, long Count);

    /// <summary>Slice bounds clamped as the spec says: positive steps clamp to [0, dim], negative ones to [-1, dim-1].</summary>
    private static AxisWindow Window(long dim, long start, long end, long step)
    {
        if (dim == 0) return new(0, step, 0);
        if (start < 0) start += dim;
        if (end < 0) end += dim;
        // Counts are written so that huge steps (int64 max or min) cannot overflow.
        if (step > 0)
        {
            start = Math.Clamp(start, 0, dim);
            end = Math.Clamp(end, 0, dim);
            return new(start, step, end > start ? (end - start - 1) / step + 1 : 0);
        }
        start = Math.Clamp(start, 0, dim - 1);
        end = Math.Clamp(end, -1, dim - 1);
        return new(start, step, start > end ? (start - end - 1) / -step + 1 : 0);
    }

    /// <summary>A slice bound relative to a symbolic dimension: from the start, from the end, or unknown.</summary>
    private enum BoundKind { FromStart, FromEnd, Unknown }

    /// <summary>
    /// Classifies a bound against a symbolic dimension: c ≥ 0 counts from the start, -c from the
    /// end; the dimension itself and huge constants (past any real dimension) are the end.
    /// </summary>
    private static (BoundKind Kind, long Offset) Classify(Dim bound, Dim dim)
    {
        const long PastEnd = int.MaxValue; // no tensor dimension reaches this
        if (bound == dim) return (BoundKind.FromEnd, 0);
        if (!bound.TryGetValue(out long c)) return (BoundKind.Unknown, 0);
        if (c >= PastEnd) return (BoundKind.FromEnd, 0);
        if (c <= -PastEnd) return (BoundKind.FromStart, 0);
        return c >= 0 ? (BoundKind.FromStart, c) : (BoundKind.FromEnd, -c);
    }

    /// <summary>
    /// The slice length along a symbolic dimension D, written exactly with min and max where the
    /// bounds are constants or D itself (x[1:] has max(D - 1, 0) elements, x[-2:] min(2, D));
    /// whole reversals too. Unknown otherwise.
    /// </summary>
    private static Dim SymbolicCount(Dim dim, Dim start, Dim end, long step)
    {
        var (startKind, s) = Classify(start, dim);
        var (endKind, e) = Classify(end, dim);
        if (step < 0)
        {
            // Only x[::-k] (from the last element to past the first).
            bool fromLast = startKind == BoundKind.FromEnd && s <= 1;
            bool toFirst = end.TryGetValue(out long c) && c <= -int.MaxValue;
            return fromLast && toFirst ? Dim.CeilDiv(dim, -step) : Dim.Unknown();
        }
        Dim? span = (startKind, endKind) switch
        {
            (BoundKind.FromStart, BoundKind.FromEnd) => s + e == 0 ? dim : Dim.Max(dim - (s + e), 0),
            (BoundKind.FromStart, BoundKind.FromStart) => e <= s ? 0 : s == 0 ? Dim.Min(e, dim) : Dim.Max(Dim.Min(e, dim) - s, 0),
            (BoundKind.FromEnd, BoundKind.FromEnd) => e >= s ? 0 : e == 0 ? Dim.Min(s, dim) : Dim.Max(Dim.Min(s - e, dim - e), 0),
            _ => null,
        };
        return span is { } n ? Dim.CeilDiv(n, step) : Dim.Unknown();
    }

    private sealed class SliceDefinition : OpDefinition
    {
        public override string OpType => "Slice";
        public override int MinInputs => 3;
        public override int MaxInputs => 5;

        /// <summary>The sliced axes (default all, in order) and their steps (default 1), checked.</summary>
        private static (int[] Axes, long[] Steps) AxesAndSteps(Operation op, int rank, int count, long[]? axes, long[]? steps)
        {
            var normalized = axes is null ? Enumerable.Range(0, count).ToArray() : Axes.Normalize(axes, rank, op);
            steps ??= Enumerable.Repeat(1L, count).ToArray();
            if (normalized.Length != count || steps.Length != count)
                throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: starts, ends, axes and steps must have the same length ({count}, {normalized.Length}, {steps.Length})");
            if (count > rank) throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: {count} slice bounds for rank {rank}");
            if (steps.Contains(0)) throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: a step is 0");
            return (normalized, steps);
        }

        public override void InferTypes(InferenceContext ctx)
        {
            var et = ctx.InputElementType(0);
            InferValues.ElementTypesFirst(ctx, et);
            var s = ctx.InputShape(0);
            int rank = ctx.InputRank(0);
            var starts = ctx.InputShapeValue(1);
            var ends = ctx.InputShapeValue(2);
            var axes = InferValues.KnownInts(ctx, 3);
            var steps = InferValues.KnownInts(ctx, 4);
            if (starts is null || ends is null || (ctx.HasInput(3) && axes is null) || (ctx.HasInput(4) && steps is null))
            {
                ctx.SetOutput(0, et, InferValues.UnknownDims(rank));
                return;
            }
            if (starts.Length != ends.Length) throw ctx.Error($"starts has {starts.Length} entries, ends {ends.Length}");
            var (sliced, stepValues) = AxesAndSteps(ctx.Op, rank, starts.Length, axes, steps);
            var dims = s.Dims.ToArray();
            var windows = new AxisWindow?[rank];
            for (int i = 0; i < sliced.Length; i++)
            {
                int a = sliced[i];
                if (dims[a].IsKnown && starts[i].IsKnown && ends[i].IsKnown)
                {
                    var w = Window(dims[a].Value, starts[i].Value, ends[i].Value, stepValues[i]);
                    windows[a] = w;
                    dims[a] = w.Count;
                }
                else dims[a] = SymbolicCount(dims[a], starts[i], ends[i], stepValues[i]);
            }
            ctx.SetOutput(0, et, new Shape(dims));

            // Slicing a shape vector: Shape(x)[2:4] keeps the symbolic sizes.
            if (rank == 1 && ctx.InputShapeValue(0) is { } values)
            {
                if (sliced.Length == 0) ctx.SetOutputShapeValue(0, values);
                else if (windows[0] is { } w)
                    ctx.SetOutputShapeValue(0, Enumerable.Range(0, (int)w.Count).Select(k => values[w.Start + k * w.Step]).ToArray());
            }
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var starts = ctx.Tensor(1).ToInt64Array();
            var ends = ctx.Tensor(2).ToInt64Array();
            if (starts.Length != ends.Length) throw ctx.Error($"starts has {starts.Length} entries, ends {ends.Length}");
            var (axes, steps) = AxesAndSteps(ctx.Op, x.Rank, starts.Length, ctx.OptionalTensor(3)?.ToInt64Array(), ctx.OptionalTensor(4)?.ToInt64Array());
            var strides = Broadcasting.Strides(x.Shape);
            var offsets = TensorCopy.IdentityOffsets(x.Shape);
            for (int i = 0; i < axes.Length; i++)
            {
                int a = axes[i];
                var w = Window(x.Shape[a], starts[i], ends[i], steps[i]);
                offsets[a] = TensorCopy.Strided(w.Count, w.Start, w.Step, strides[a]);
            }
            ctx.SetOutput(0, TensorCopy.ByAxisOffsets(x, offsets));
        }
    }

    /// <summary>ReverseSequence(x, lengths): for each batch entry b, reverses the first lengths[b] steps along the time axis.</summary>
    private sealed class ReverseSequenceDefinition : OpDefinition
    {
        public override string OpType => "ReverseSequence";
        public override int MinInputs => 2;

        private static (int Batch, int Time) BatchAndTimeAxes(Operation op, int rank)
        {
            if (rank < 2) throw new KilnException(ErrorCode.InvalidShape, $"{op.Describe()}: input must have rank 2 or more, has {rank}");
            int batch = Axes.Normalize(op.GetInt("batch_axis", 1), rank, op, "batch_axis");
            int time = Axes.Normalize(op.GetInt("time_axis", 0), rank, op, "time_axis");
            if (batch == time || batch > 1 || time > 1)
                throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: batch_axis and time_axis must be 0 and 1 in some order");
            return (batch, time);
        }

        public override void InferTypes(InferenceContext ctx)
        {
            InferValues.ElementTypesFirst(ctx, ctx.InputElementType(0));
            var (batch, _) = BatchAndTimeAxes(ctx.Op, ctx.InputRank(0));
            var lengths = ctx.InputShape(1);
            if (lengths.IsRanked && lengths.Rank != 1) throw ctx.Error($"sequence_lens must be a vector, has shape {lengths}");
            if (lengths.IsRanked) InferValues.Same(ctx, lengths[0], ctx.InputShape(0)[batch], "sequence_lens and the batch axis");
            Infer.SameAsInput(ctx);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var lengths = ctx.Tensor(1).ToInt64Array();
            var (batchAxis, timeAxis) = BatchAndTimeAxes(ctx.Op, x.Rank);
            long batches = x.Shape[batchAxis], steps = x.Shape[timeAxis];
            if (lengths.Length != batches) throw ctx.Error($"sequence_lens has {lengths.Length} entries for batch size {batches}");
            if (lengths.Any(n => n < 0 || n > steps)) throw ctx.Error($"sequence_lens {TensorData.FormatShape(lengths)} must lie in [0, {steps}]");

            // The two leading axes select a run of the trailing elements; reversal moves whole runs.
            var strides = Broadcasting.Strides(x.Shape);
            long run = x.Rank > 2 ? strides[1] : 1;
            var starts = new long[batches * steps];
            for (long b = 0; b < batches; b++)
                for (long t = 0; t < steps; t++)
                {
                    long source = t < lengths[b] ? lengths[b] - 1 - t : t;
                    long target = timeAxis == 0 ? t * batches + b : b * steps + t;
                    starts[target] = (timeAxis == 0 ? source * batches + b : b * steps + source) * run;
                }
            ctx.SetOutput(0, TensorCopy.ByRuns(x, starts, run, x.Shape));
        }
    }
}
