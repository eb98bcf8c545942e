using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// ScatterElements and ScatterND: a copy of data with the elements (or slices) named by indices
/// replaced by updates, or combined with them (reduction add, mul, max, min). With reduction
/// "none", later updates to the same place win. The deprecated Scatter is upgraded to
/// ScatterElements by the importer.
/// </summary>
[OpFamily]
public static class Scatter
{
    public static void Register(OpRegistry r)
    {
        r.Add(new ScatterElementsDefinition());
        r.Add(new ScatterNDDefinition());
    }

    public struct MaxOp : INumericBinaryOperator { public static T Invoke<T>(T a, T b) where T : unmanaged, INumber<T> => T.Max(a, b); }
    public struct MinOp : INumericBinaryOperator { public static T Invoke<T>(T a, T b) where T : unmanaged, INumber<T> => T.Min(a, b); }

    private static readonly string[] s_reductions = ["none", "add", "mul", "max", "min"];

    private static string Reduction(Operation op)
    {
        var r = op.GetString("reduction", "none");
        return s_reductions.Contains(r) ? r
            : throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: reduction '{r}' is not none, add, mul, max or min");
    }

    /// <summary>Checks the operand types both operators share: updates like data, integer indices.</summary>
    private static void InferCommon(InferenceContext ctx)
    {
        Indexing.CheckIndexType(ctx, 1);
        Infer.SameElementType(ctx, 0, 2);
        if (Reduction(ctx.Op) != "none") Infer.ElementTypeIn(ctx, 0, t => t.IsNumeric(), "numeric for a reduction");
        Infer.SameAsInput(ctx);
    }

    /// <summary>data with run k of updates written at (or combined into) offset starts[k].</summary>
    private static TensorData Apply(EvaluationContext ctx, TensorData data, long[] starts, long runLength, TensorData updates)
    {
        if (updates.ElementType != data.ElementType) throw ctx.Error($"updates are {updates.ElementType.OnnxName()}, data {data.ElementType.OnnxName()}");
        var result = data.Clone();
        switch (Reduction(ctx.Op))
        {
            case "none": TensorCopy.PutRuns(result, starts, runLength, updates); return result;
            case "add": return Reduce<ElementwiseMath.AddOp>(ctx, result, starts, runLength, updates);
            case "mul": return Reduce<ElementwiseMath.MulOp>(ctx, result, starts, runLength, updates);
            case "max": return Reduce<MaxOp>(ctx, result, starts, runLength, updates);
            default: return Reduce<MinOp>(ctx, result, starts, runLength, updates);
        }
    }

    private static TensorData Reduce<TOp>(EvaluationContext ctx, TensorData target, long[] starts, long runLength, TensorData updates)
        where TOp : INumericBinaryOperator
    {
        var type = target.ElementType;
        if (!type.IsNumeric()) throw ctx.Error($"reduction needs numeric data, got {type.OnnxName()}");
        if (!Dispatch.IsNativeNumeric(type))
        {
            // bfloat16 and the small float formats combine in float32 and round back once.
            var wide = Conversions.ToFloat32(target);
            Reduce<TOp>(ctx, wide, starts, runLength, Conversions.ToFloat32(updates));
            return Conversions.Convert(wide, type);
        }
        Dispatch.Numeric<ReduceRuns<TOp>, bool>(type, new(target, starts, runLength, updates));
        return target;
    }

    private readonly struct ReduceRuns<TOp>(TensorData target, long[] starts, long runLength, TensorData updates) : INumericVisitor<bool>
        where TOp : INumericBinaryOperator
    {
        public bool Visit<T>() where T : unmanaged, INumber<T>
        {
            var t = target.Data<T>();
            var u = updates.Data<T>();
            for (long k = 0; k < starts.LongLength; k++)
                for (long j = 0; j < runLength; j++)
                    t[starts[k] + j] = TOp.Invoke(t[starts[k] + j], u[k * runLength + j]);
            return true;
        }
    }

    /// <summary>ScatterElements(data, indices, updates): result[i with axis coordinate indices[i]] = updates[i].</summary>
    private sealed class ScatterElementsDefinition : OpDefinition
    {
        public override string OpType => "ScatterElements";
        public override int MinInputs => 3;

        public override void InferTypes(InferenceContext ctx)
        {
            InferCommon(ctx);
            int rank = ctx.InputRank(0);
            Axes.Normalize(ctx.Op.GetInt("axis", 0), rank, ctx.Op);
            var indices = ctx.InputShape(1);
            var updates = ctx.InputShape(2);
            if (indices.IsRanked && indices.Rank != rank) throw ctx.Error($"indices have rank {indices.Rank}, data rank {rank}");
            if (indices.IsRanked && updates.IsRanked)
            {
                if (updates.Rank != indices.Rank) throw ctx.Error($"updates {updates} and indices {indices} differ in shape");
                for (int d = 0; d < rank; d++) InferValues.Same(ctx, indices[d], updates[d], $"updates and indices dimension {d}");
            }
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var data = ctx.Tensor(0);
            var indices = ctx.Tensor(1);
            var updates = ctx.Tensor(2);
            int axis = Axes.Normalize(ctx.Op.GetInt("axis", 0), data.Rank, ctx.Op);
            if (!updates.Shape.AsSpan().SequenceEqual(indices.Shape))
                throw ctx.Error($"updates {TensorData.FormatShape(updates.Shape)} and indices {TensorData.FormatShape(indices.Shape)} differ in shape");
            var targets = Indexing.ElementOffsets(data.Shape, indices, axis, ctx.Error);
            ctx.SetOutput(0, Apply(ctx, data, targets, 1, updates));
        }
    }

    /// <summary>ScatterND(data, indices, updates): the slice of data named by each index tuple becomes the matching slice of updates.</summary>
    private sealed class ScatterNDDefinition : OpDefinition
    {
        public override string OpType => "ScatterND";
        public override int MinInputs => 3;

        public override void InferTypes(InferenceContext ctx)
        {
            var data = ctx.InputShape(0);
            var indices = ctx.InputShape(1);
            var updates = ctx.InputShape(2);
            if (data.IsRanked && indices.IsRanked && updates.IsRanked && indices[^1].TryGetValue(out long k))
            {
                var expected = indices.Take(indices.Rank - 1).Concat(data.Skip((int)k)).ToArray();
                if (k > data.Rank || updates.Rank != expected.Length)
                    throw ctx.Error($"updates {updates} do not fit indices {indices} into data {data}");
                for (int d = 0; d < expected.Length; d++) InferValues.Same(ctx, updates[d], expected[d], $"updates dimension {d}");
            }
            InferCommon(ctx);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var data = ctx.Tensor(0);
            var indices = ctx.Tensor(1);
            var updates = ctx.Tensor(2);
            var (starts, length) = Indexing.SliceOffsets(data.Shape, indices, 0, ctx.Error);
            var expected = indices.Shape.SkipLast(1).Concat(data.Shape.Skip((int)indices.Shape[^1])).ToArray();
            if (!updates.Shape.AsSpan().SequenceEqual(expected))
                throw ctx.Error($"updates have shape {TensorData.FormatShape(updates.Shape)}, expected {TensorData.FormatShape(expected)}");
            ctx.SetOutput(0, Apply(ctx, data, starts, length, updates));
        }
    }
}
