using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Operators driven by masks and positions: Compress (keep the slices a bool vector selects),
/// NonZero (the coordinates of nonzero elements) and OneHot (positions to a one-hot axis).
/// </summary>
[OpFamily]
public static class Masking
{
    public static void Register(OpRegistry r)
    {
        r.Add(new CompressDefinition());
        r.Add(new NonZeroDefinition());
        r.Add(new OneHotDefinition());
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
