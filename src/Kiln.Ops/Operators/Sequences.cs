using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Sequence operators: building (SequenceConstruct, SequenceEmpty, SequenceInsert, SequenceErase),
/// reading (SequenceAt, SequenceLength), and converting between sequences and tensors
/// (SplitToSequence, ConcatFromSequence). Sequences are immutable: every edit makes a new one.
/// SequenceMap is in <see cref="SequenceMapOps"/>.
/// </summary>
[OpFamily]
public static class Sequences
{
    public static void Register(OpRegistry r)
    {
        r.Add(new SequenceConstructDefinition());
        r.Add(new SequenceEmptyDefinition());
        r.Add(new SequenceInsertDefinition());
        r.Add(new SequenceEraseDefinition());
        r.Add(new SequenceAtDefinition());
        r.Add(new SequenceLengthDefinition());
        r.Add(new SplitToSequenceDefinition());
        r.Add(new ConcatFromSequenceDefinition());
    }

    internal static SequenceType InputSequence(InferenceContext ctx, int i) =>
        ctx.InputType(i) as SequenceType ?? throw ctx.TypeError($"input {i} must be a sequence, got {ctx.InputType(i)}");

    /// <summary>A position operand: an int32/int64 scalar in [-count, count) (or up to count inclusive for insertion).</summary>
    private static int Position(EvaluationContext ctx, int input, int count, bool allowEnd)
    {
        var t = ctx.Tensor(input);
        if (t.ElementType is not (ElementType.Int32 or ElementType.Int64) || t.ElementCount != 1)
            throw ctx.Error($"the position must be an int32 or int64 scalar, got {t.Type}");
        long p = t.GetInt64(0);
        long limit = allowEnd ? count : count - 1;
        if (p < -count || p > limit)
            throw ctx.Error($"position {p} is out of range for a sequence of {count} items");
        return (int)(p < 0 ? p + count : p);
    }

    private static void CheckPositionType(InferenceContext ctx, int input)
    {
        if (ctx.HasInput(input) && ctx.InputType(input) is not TensorType { ElementType: ElementType.Int32 or ElementType.Int64 or ElementType.Undefined })
            throw ctx.TypeError($"the position must be an int32 or int64 tensor, got {ctx.InputType(input)}");
    }

    /// <summary>The type of an item added to a sequence of <paramref name="element"/>s: same element type, sizes merged.</summary>
    private static IrType JoinItem(InferenceContext ctx, IrType element, IrType item) =>
        item is TensorType && TypeMerging.Merge(element, item) is TensorType merged ? merged
        : throw ctx.TypeError($"cannot add {item} to a sequence of {element}");

    /// <summary>The declared element type of a sequence of these items: their merged type, or the fallback when there are none.</summary>
    internal static IrType ItemType(IReadOnlyList<DataValue> items, IrType fallback) =>
        items.Count == 0 ? fallback : items.Skip(1).Aggregate(items[0].Type, (a, b) => TypeMerging.Merge(a, b.Type) ?? a);

    private sealed class SequenceConstructDefinition : OpDefinition
    {
        public override string OpType => "SequenceConstruct";
        public override int MaxInputs => int.MaxValue;

        public override void InferTypes(InferenceContext ctx)
        {
            IrType element = ctx.InputTensor(0);
            for (int i = 1; i < ctx.InputCount; i++) element = JoinItem(ctx, element, ctx.InputType(i));
            ctx.SetOutput(0, new SequenceType(element));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var items = Enumerable.Range(0, ctx.InputCount).Select(i => (DataValue)ctx.Tensor(i)).ToArray();
            if (items.Select(t => ((TensorData)t).ElementType).Distinct().Count() > 1)
                throw ctx.Error("the tensors must share one element type");
            ctx.SetOutput(0, new SequenceData(ItemType(items, items[0].Type), items));
        }
    }

    /// <summary>SequenceEmpty: an empty sequence of tensors of the 'dtype' element type (default float).</summary>
    private sealed class SequenceEmptyDefinition : OpDefinition
    {
        public override string OpType => "SequenceEmpty";
        public override int MinInputs => 0;

        private static SequenceType Type(Operation op)
        {
            long code = op.GetInt("dtype", (long)ElementType.Float32);
            if (!ElementTypes.IsDefined((int)code))
                throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: dtype {code} is not an element type");
            return new SequenceType(new TensorType((ElementType)code, Shape.Unranked));
        }

        public override void InferTypes(InferenceContext ctx) => ctx.SetOutput(0, Type(ctx.Op));
        public override void Evaluate(EvaluationContext ctx) => ctx.SetOutput(0, new SequenceData(Type(ctx.Op).ElementType, []));
    }

    /// <summary>SequenceInsert(seq, tensor, position?): inserts before position (default: at the end).</summary>
    private sealed class SequenceInsertDefinition : OpDefinition
    {
        public override string OpType => "SequenceInsert";
        public override int MinInputs => 2;
        public override int MaxInputs => 3;

        public override void InferTypes(InferenceContext ctx)
        {
            CheckPositionType(ctx, 2);
            ctx.SetOutput(0, new SequenceType(JoinItem(ctx, InputSequence(ctx, 0).ElementType, ctx.InputType(1))));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var seq = ctx.Sequence(0);
            var item = ctx.Tensor(1);
            if (seq.ElementType is TensorType { ElementType: var et } && et != ElementType.Undefined && et != item.ElementType)
                throw ctx.Error($"cannot insert a {item.ElementType.OnnxName()} tensor into a sequence of {et.OnnxName()} tensors");
            int at = ctx.HasInput(2) ? Position(ctx, 2, seq.Items.Count, allowEnd: true) : seq.Items.Count;
            var items = seq.Items.ToList();
            items.Insert(at, item);
            ctx.SetOutput(0, new SequenceData(TypeMerging.Merge(seq.ElementType, item.Type) ?? seq.ElementType, items));
        }
    }

    /// <summary>SequenceErase(seq, position?): removes the item at position (default: the last).</summary>
    private sealed class SequenceEraseDefinition : OpDefinition
    {
        public override string OpType => "SequenceErase";
        public override int MaxInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            CheckPositionType(ctx, 1);
            ctx.SetOutput(0, InputSequence(ctx, 0));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var seq = ctx.Sequence(0);
            if (seq.Items.Count == 0) throw ctx.Error("cannot erase from an empty sequence");
            int at = ctx.HasInput(1) ? Position(ctx, 1, seq.Items.Count, allowEnd: false) : seq.Items.Count - 1;
            var items = seq.Items.ToList();
            items.RemoveAt(at);
            ctx.SetOutput(0, new SequenceData(seq.ElementType, items));
        }
    }

    /// <summary>SequenceAt(seq, position): the item at position (negative counts from the end).</summary>
    private sealed class SequenceAtDefinition : OpDefinition
    {
        public override string OpType => "SequenceAt";
        public override int MinInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            CheckPositionType(ctx, 1);
            ctx.SetOutput(0, InputSequence(ctx, 0).ElementType);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var seq = ctx.Sequence(0);
            ctx.SetOutput(0, seq.Items[Position(ctx, 1, seq.Items.Count, allowEnd: false)]);
        }
    }

    private sealed class SequenceLengthDefinition : OpDefinition
    {
        public override string OpType => "SequenceLength";

        public override void InferTypes(InferenceContext ctx)
        {
            InputSequence(ctx, 0);
            ctx.SetOutput(0, ElementType.Int64, Shape.Scalar);
        }

        public override void Evaluate(EvaluationContext ctx) =>
            ctx.SetOutput(0, TensorData.Scalar(ElementType.Int64, (long)ctx.Sequence(0).Items.Count));
    }

    /// <summary>
    /// SplitToSequence(input, split?): without split, pieces of size 1 along axis (the axis removed
    /// when keepdims is 0); a scalar split gives pieces of that size (the last may be shorter);
    /// a vector split gives pieces of the listed sizes.
    /// </summary>
    private sealed class SplitToSequenceDefinition : OpDefinition
    {
        public override string OpType => "SplitToSequence";
        public override int MaxInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            var input = ctx.InputTensor(0);
            if (ctx.HasInput(1) && ctx.InputType(1) is not TensorType { ElementType: ElementType.Int32 or ElementType.Int64 or ElementType.Undefined })
                throw ctx.TypeError($"split must be an int32 or int64 tensor, got {ctx.InputType(1)}");
            if (!input.Shape.IsRanked) { ctx.SetOutput(0, new SequenceType(input)); return; }
            int axis = Axes.Normalize(ctx.Op.GetInt("axis", 0), input.Shape.Rank, ctx.Op);
            var dims = input.Shape.Dims.ToList();
            if (!ctx.HasInput(1))
            {
                if (ctx.Op.GetInt("keepdims", 1) != 0) dims[axis] = 1;
                else dims.RemoveAt(axis);
            }
            else dims[axis] = UniformPieceSize(ctx.InputConstant(1), dims[axis]) ?? Dim.Unknown();
            ctx.SetOutput(0, new SequenceType(new TensorType(input.ElementType, new Shape(dims))));
        }

        /// <summary>The size every piece has, when the split values say so.</summary>
        private static Dim? UniformPieceSize(TensorData? split, Dim length)
        {
            if (split is null) return null;
            var sizes = split.ToInt64Array();
            if (split.Rank == 0)
                return length.TryGetValue(out long n) && sizes[0] > 0 && n % sizes[0] == 0 ? sizes[0] : null;
            return sizes.Length > 0 && sizes.All(s => s == sizes[0]) ? sizes[0] : null;
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var input = ctx.Tensor(0);
            if (input.Rank == 0) throw ctx.Error("cannot split a scalar");
            int axis = Axes.Normalize(ctx.Op.GetInt("axis", 0), input.Rank, ctx.Op);
            long length = input.Shape[axis];
            var items = new List<DataValue>();
            if (ctx.OptionalTensor(1) is not { } split)
            {
                bool keep = ctx.Op.GetInt("keepdims", 1) != 0;
                for (long i = 0; i < length; i++) items.Add(keep ? AxisBlocks.Slice(input, axis, i, 1) : AxisBlocks.Take(input, axis, i));
            }
            else
            {
                long start = 0;
                foreach (long size in PieceSizes(ctx, split, length))
                {
                    items.Add(AxisBlocks.Slice(input, axis, start, size));
                    start += size;
                }
            }
            ctx.SetOutput(0, new SequenceData(ItemType(items, new TensorType(input.ElementType, Shape.Unranked)), items));
        }

        private static IEnumerable<long> PieceSizes(EvaluationContext ctx, TensorData split, long length)
        {
            if (split.ElementType is not (ElementType.Int32 or ElementType.Int64)) throw ctx.Error("split must be int32 or int64");
            var values = split.ToInt64Array();
            if (split.Rank == 0)
            {
                long size = values[0];
                if (size <= 0) throw ctx.Error($"split size {size} must be positive");
                for (long start = 0; start < length; start += size) yield return Math.Min(size, length - start);
                yield break;
            }
            if (split.Rank != 1) throw ctx.Error($"split must be a scalar or a vector, has shape {TensorData.FormatShape(split.Shape)}");
            if (values.Any(v => v < 0) || values.Sum() != length)
                throw ctx.Error($"split sizes [{string.Join(", ", values)}] must be non-negative and add up to {length}");
            foreach (long v in values) yield return v;
        }
    }

    /// <summary>ConcatFromSequence(seq): joins the tensors along axis, or stacks them along a new axis when new_axis is 1.</summary>
    private sealed class ConcatFromSequenceDefinition : OpDefinition
    {
        public override string OpType => "ConcatFromSequence";

        public override void InferTypes(InferenceContext ctx)
        {
            if (InputSequence(ctx, 0).ElementType is not TensorType element) throw ctx.TypeError("the sequence must hold tensors");
            if (!element.Shape.IsRanked) { ctx.SetOutput(0, element); return; }
            bool newAxis = ctx.Op.GetInt("new_axis", 0) != 0;
            int rank = element.Shape.Rank + (newAxis ? 1 : 0);
            int axis = Axes.Normalize(ctx.Op.GetInt("axis"), rank, ctx.Op);
            var dims = element.Shape.Dims.ToList();
            if (newAxis) dims.Insert(axis, Dim.Unknown());
            else dims[axis] = Dim.Unknown();
            ctx.SetOutput(0, element.ElementType, new Shape(dims));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var seq = ctx.Sequence(0);
            if (seq.Items.Count == 0) throw ctx.Error("cannot concatenate an empty sequence");
            var items = seq.Items.Select(v => v as TensorData ?? throw ctx.Error($"the sequence must hold tensors, has {v.Type}")).ToArray();
            bool newAxis = ctx.Op.GetInt("new_axis", 0) != 0;
            int axis = Axes.Normalize(ctx.Op.GetInt("axis"), items[0].Rank + (newAxis ? 1 : 0), ctx.Op);
            ctx.SetOutput(0, newAxis ? AxisBlocks.Stack(items, axis, ctx.Error) : AxisBlocks.Concat(items, axis, ctx.Error));
        }
    }
}
