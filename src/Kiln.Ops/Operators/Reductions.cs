using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceLogSum,
/// ReduceLogSumExp, ReduceSumSquare in their newest form: axes as an optional int64 input,
/// keepdims, noop_with_empty_axes. Each reduction is a struct folding one group of values
/// in the accumulator type (double for floats, 64-bit for integers).
/// </summary>
[OpFamily]
public static class Reductions
{
    public static void Register(OpRegistry r)
    {
        r.Add(new ReduceDefinition<SumReduction>("ReduceSum", (a, b) => a + b));
        r.Add(new ReduceDefinition<ProdReduction>("ReduceProd", (a, b) => a * b));
        r.Add(new ReduceDefinition<MaxReduction>("ReduceMax", Dim.Max, allowBool: true));
        r.Add(new ReduceDefinition<MinReduction>("ReduceMin", Dim.Min, allowBool: true));
        r.Add(new ReduceDefinition<MeanReduction>("ReduceMean"));
        r.Add(new ReduceDefinition<L1Reduction>("ReduceL1"));
        r.Add(new ReduceDefinition<L2Reduction>("ReduceL2"));
        r.Add(new ReduceDefinition<SumSquareReduction>("ReduceSumSquare"));
        r.Add(new ReduceDefinition<LogSumReduction>("ReduceLogSum"));
        r.Add(new ReduceDefinition<LogSumExpReduction>("ReduceLogSumExp"));
    }

    /// <summary>
    /// Reduces every group of <paramref name="layout"/> with <typeparamref name="TOp"/>; the
    /// result has the layout's keepdims shape and x's element type.
    /// </summary>
    public static TensorData Reduce<TOp>(TensorData x, ReductionLayout layout) where TOp : IReduction
    {
        if (x.ElementType == ElementType.Bool)
            return Conversions.Convert(Reduce<TOp>(Conversions.Convert(x, ElementType.UInt8), layout), ElementType.Bool);
        return Accumulation.Widened(x, w => Accumulation.Dispatch<ReduceVisitor<TOp>, TensorData>(w.ElementType, new(w, layout)));
    }

    private readonly struct ReduceVisitor<TOp>(TensorData x, ReductionLayout layout) : IAccumulatingVisitor<TensorData>
        where TOp : IReduction
    {
        public TensorData Visit<T, TAcc>() where T : unmanaged, INumber<T> where TAcc : unmanaged, INumber<TAcc>
        {
            var result = TensorData.Zeros(x.ElementType, layout.KeptShape);
            var src = x.Data<T>();
            var dst = result.Data<T>();
            var members = layout.MemberOffsets;
            var group = new TAcc[members.Length];
            // Reducing nothing gives the operator's identity, saturated into T (-inf is int.MinValue for ints).
            T empty = T.CreateSaturating(TOp.Empty);
            for (int g = 0; g < dst.Length; g++)
            {
                if (members.Length == 0) { dst[g] = empty; continue; }
                int start = layout.GroupStarts[g];
                for (int k = 0; k < group.Length; k++) group[k] = TAcc.CreateTruncating(src[start + members[k]]);
                dst[g] = T.CreateTruncating(TOp.Apply<TAcc>(group));
            }
            return result;
        }
    }
}

/// <summary>One reduction: how a group of values folds to one, and what an empty group gives.</summary>
public interface IReduction
{
    static abstract double Empty { get; }
    static abstract TAcc Apply<TAcc>(ReadOnlySpan<TAcc> values) where TAcc : unmanaged, INumber<TAcc>;
}

public struct SumReduction : IReduction
{
    public static double Empty => 0;
    public static TAcc Apply<TAcc>(ReadOnlySpan<TAcc> values) where TAcc : unmanaged, INumber<TAcc>
    {
        var sum = TAcc.Zero;
        foreach (var v in values) sum += v;
        return sum;
    }
}

public struct ProdReduction : IReduction
{
    public static double Empty => 1;
    public static TAcc Apply<TAcc>(ReadOnlySpan<TAcc> values) where TAcc : unmanaged, INumber<TAcc>
    {
        var product = TAcc.One;
        foreach (var v in values) product *= v;
        return product;
    }
}

/// <summary>Maximum; NaN wins (as numpy's max).</summary>
public struct MaxReduction : IReduction
{
    public static double Empty => double.NegativeInfinity;
    public static TAcc Apply<TAcc>(ReadOnlySpan<TAcc> values) where TAcc : unmanaged, INumber<TAcc>
    {
        var max = values[0];
        foreach (var v in values) max = TAcc.Max(max, v);
        return max;
    }
}

public struct MinReduction : IReduction
{
    public static double Empty => double.PositiveInfinity;
    public static TAcc Apply<TAcc>(ReadOnlySpan<TAcc> values) where TAcc : unmanaged, INumber<TAcc>
    {
        var min = values[0];
        foreach (var v in values) min = TAcc.Min(min, v);
        return min;
    }
}

/// <summary>Mean; integer means truncate toward zero (numpy's mean followed by astype).</summary>
public struct MeanReduction : IReduction
{
    public static double Empty => double.NaN;
    public static TAcc Apply<TAcc>(ReadOnlySpan<TAcc> values) where TAcc : unmanaged, INumber<TAcc> =>
        SumReduction.Apply(values) / TAcc.CreateTruncating(values.Length);
}

public struct L1Reduction : IReduction
{
    public static double Empty => 0;
    public static TAcc Apply<TAcc>(ReadOnlySpan<TAcc> values) where TAcc : unmanaged, INumber<TAcc>
    {
        var sum = TAcc.Zero;
        foreach (var v in values) sum += TAcc.Abs(v);
        return sum;
    }
}

public struct SumSquareReduction : IReduction
{
    public static double Empty => 0;
    public static TAcc Apply<TAcc>(ReadOnlySpan<TAcc> values) where TAcc : unmanaged, INumber<TAcc>
    {
        var sum = TAcc.Zero;
        foreach (var v in values) sum += v * v;
        return sum;
    }
}

/// <summary>sqrt(Σx²); on integers the root is taken in double and truncated.</summary>
public struct L2Reduction : IReduction
{
    public static double Empty => 0;
    public static TAcc Apply<TAcc>(ReadOnlySpan<TAcc> values) where TAcc : unmanaged, INumber<TAcc> =>
        TAcc.CreateTruncating(Math.Sqrt(double.CreateTruncating(SumSquareReduction.Apply(values))));
}

public struct LogSumReduction : IReduction
{
    public static double Empty => double.NegativeInfinity;
    public static TAcc Apply<TAcc>(ReadOnlySpan<TAcc> values) where TAcc : unmanaged, INumber<TAcc> =>
        TAcc.CreateTruncating(Math.Log(double.CreateTruncating(SumReduction.Apply(values))));
}

/// <summary>log Σ exp(x), computed as max + log Σ exp(x − max) so large inputs do not overflow.</summary>
public struct LogSumExpReduction : IReduction
{
    public static double Empty => double.NegativeInfinity;
    public static TAcc Apply<TAcc>(ReadOnlySpan<TAcc> values) where TAcc : unmanaged, INumber<TAcc>
    {
        double max = double.CreateTruncating(MaxReduction.Apply(values));
        if (double.IsInfinity(max)) return TAcc.CreateTruncating(max);
        double sum = 0;
        foreach (var v in values) sum += Math.Exp(double.CreateTruncating(v) - max);
        return TAcc.CreateTruncating(max + Math.Log(sum));
    }
}

/// <summary>
/// A Reduce* operator: data, optional axes (int64). No axes reduce everything, unless
/// noop_with_empty_axes is set, which reduces each element on its own (so ReduceSumSquare squares).
/// Sum, Prod, Max and Min of a shape vector also fold its symbolic value (element counts).
/// </summary>
public sealed class ReduceDefinition<TOp>(string opType, Func<Dim, Dim, Dim>? shapeArithmetic = null, bool allowBool = false) : OpDefinition
    where TOp : IReduction
{
    public override string OpType => opType;
    public override int MaxInputs => 2;

    public override void InferTypes(InferenceContext ctx)
    {
        Infer.ElementTypeIn(ctx, 0, t => t.IsNumeric() || (allowBool && t == ElementType.Bool), allowBool ? "numeric or bool" : "numeric");
        if (ctx.HasInput(1)) Infer.ElementTypeIn(ctx, 1, t => t == ElementType.Int64, "int64 axes");
        var et = ctx.InputElementType(0);
        bool keepDims = ctx.Op.GetInt("keepdims", 1) != 0;
        var shape = ctx.InputShape(0);
        if (!shape.IsRanked) { ctx.SetOutput(0, et, Shape.Unranked); return; }
        var axes = KnownAxes(ctx, shape.Rank);
        if (axes is null)
        {
            // Axes computed at run time: with keepdims the rank is known, otherwise only if the axes' count is.
            var axesShape = ctx.InputShape(1);
            if (keepDims) ctx.SetOutput(0, et, new Shape(shape.Select(d => d == 1 ? d : Dim.Unknown())));
            else if (axesShape.IsRanked && axesShape.Rank == 1 && axesShape[0].TryGetValue(out long count) && count > 0)
                ctx.SetOutput(0, et, new Shape(Enumerable.Range(0, Math.Max(0, shape.Rank - (int)count)).Select(_ => Dim.Unknown())));
            else ctx.SetOutput(0, et, Shape.Unranked);
            return;
        }
        var dims = new List<Dim>();
        for (int d = 0; d < shape.Rank; d++)
            if (!axes.Contains(d)) dims.Add(shape[d]);
            else if (keepDims) dims.Add(1);
        ctx.SetOutput(0, et, new Shape(dims));

        if (shapeArithmetic is not null && shape.Rank == 1 && axes.Length == 1 && ctx.InputShapeValue(0) is { Length: > 0 } values)
            ctx.SetOutputShapeValue(0, [values.Aggregate(shapeArithmetic)]);
    }

    public override void Evaluate(EvaluationContext ctx)
    {
        var x = ctx.Tensor(0);
        var axes = ReducedAxes(ctx.Op, x.Rank, ctx.OptionalTensor(1)?.ToInt64Array());
        var layout = ReductionLayout.Create(x.Shape, axes);
        var result = Reductions.Reduce<TOp>(x, layout);
        if (ctx.Op.GetInt("keepdims", 1) == 0)
            result = result.Reshape(x.Shape.Where((_, d) => !axes.Contains(d)).ToArray());
        ctx.SetOutput(0, result);
    }

    /// <summary>The reduced axes when the axes input is known at compile time (or absent); null otherwise.</summary>
    private static int[]? KnownAxes(InferenceContext ctx, int rank)
    {
        if (!ctx.HasInput(1)) return ReducedAxes(ctx.Op, rank, null);
        if (ctx.InputShapeValue(1) is not { } values || values.Any(v => !v.IsKnown))
        {
            // An axes input of static length 0 is known too.
            var s = ctx.InputShape(1);
            return s.IsRanked && s.Rank == 1 && s[0] == 0 ? ReducedAxes(ctx.Op, rank, []) : null;
        }
        return ReducedAxes(ctx.Op, rank, values.Select(v => v.Value).ToArray());
    }

    private static int[] ReducedAxes(Operation op, int rank, long[]? axes)
    {
        if (axes is null || axes.Length == 0)
            return op.GetInt("noop_with_empty_axes", 0) != 0 ? [] : Enumerable.Range(0, rank).ToArray();
        return Axes.Normalize(axes, rank, op);
    }
}
