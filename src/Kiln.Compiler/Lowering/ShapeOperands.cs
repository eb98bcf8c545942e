using Kiln.Ir;
using Kiln.Runtime;

namespace Kiln.Compiler.Lowering;

/// <summary>
/// Shapes given by operands computed at run time (Reshape's shape, Unsqueeze's or a reduction's
/// axes, Expand's shape, Split's sizes, Tile's repeats, ...). When such an operand is not a
/// constant, inference cannot compute the result's shape; the host program then reads the operand
/// (one symbolic size per element) and evaluates the operator's shape function on it, as dimension
/// expressions (<see cref="Dim.Eq"/> and <see cref="Dim.Lt"/> give 1 or 0, so choices are sums of
/// products). <see cref="LoweringContext.DefineOutputShape"/> then gives the sizes inference left
/// unknown these expressions (buffers that depend on them are allocated once they are known), and
/// checks the sizes the model declares against them: a declared shape is a contract checked at run
/// time, never trusted silently. Invalid operands fail the invocation with an error naming the
/// operation. With static input shapes the expressions fold to a few comparisons per element.
/// </summary>
internal static class ShapeOperands
{
    /// <summary>
    /// The elements of integer operand <paramref name="input"/> as sizes the host program reads at
    /// run time, or null when the operand is a constant (inference used its values already).
    /// </summary>
    public static Dim[]? Read(LoweringContext ctx, int input)
    {
        if (!ctx.HasInput(input) || ctx.Constant(input) is not null) return null;
        var t = ctx.Input(input);
        if (!t.ElementCount.TryGetValue(out long n))
            throw ctx.Unsupported($"operand {input} has a length known only at run time ({t.ElementCount}), so the result's rank would depend on data");
        var values = new Dim[n];
        for (long i = 0; i < n; i++)
        {
            string symbol = ctx.NewSymbol(ctx.Op.OpType.ToLowerInvariant() + ".operand");
            ctx.Add(new ReadDimStep(new TensorRef(t.DType, [], t.Block, t.ByteOffset + i * t.DType.Size()), symbol));
            values[i] = Dim.Symbol(symbol);
        }
        return values;
    }

    /// <summary>Requires <paramref name="condition"/> (1 or 0) to be 1 at run time.</summary>
    public static void Expect(LoweringContext ctx, Dim condition, string what)
    {
        string message = $"{ctx.Op.Describe()}: {what}";
        if (condition.TryGetValue(out long c))
        {
            if (c == 0) throw new KilnException(ErrorCode.InvalidModel, message);
            return;
        }
        ctx.Add(new CheckStep(condition, 1, message));
    }


    /// <summary>An axis in [-rank, rank), made non-negative; checked at run time.</summary>
    public static Dim[] NormalizeAxes(LoweringContext ctx, Dim[] axes, int rank) => Axes(ctx, axes, rank);

    private static Dim[] Axes(LoweringContext ctx, Dim[] axes, int rank)
    {
        var normalized = new Dim[axes.Length];
        for (int k = 0; k < axes.Length; k++)
        {
            Expect(ctx, Dim.Lt(axes[k], rank) * (1 - Dim.Lt(axes[k], -rank)), $"axis operand {k} is out of range for rank {rank}");
            normalized[k] = axes[k] + rank * Dim.Lt(axes[k], 0);
        }
        for (int k = 0; k < axes.Length; k++)
            for (int l = k + 1; l < axes.Length; l++)
                Expect(ctx, 1 - Dim.Eq(normalized[k], normalized[l]), $"axis operands {k} and {l} name the same axis");
        return normalized;
    }

    private static Dim IsAxis(Dim[] axes, int position) => axes.Aggregate((Dim)0, (s, a) => s + Dim.Eq(a, position));

    /// <summary>How many of the axes come before <paramref name="position"/>.</summary>
    private static Dim Before(Dim[] axes, int position) => axes.Aggregate((Dim)0, (s, a) => s + Dim.Lt(a, position));

    /// <summary>The size at run-time index <paramref name="index"/> of <paramref name="dims"/> (0 when out of range).</summary>
    private static Dim SizeAt(Dim[] dims, Dim index)
    {
        Dim found = 0;
        for (int t = 0; t < dims.Length; t++) found += Dim.Eq(index, t) * dims[t];
        return found;
    }

    /// <summary>Reshape: each element is a size, 0 (the input's size, unless allowzero) or the one -1 (what is left).</summary>
    public static void Reshape(LoweringContext ctx)
    {
        if (Read(ctx, 1) is not { } shape) return;
        var input = ctx.InputShape(0);
        bool allowZero = ctx.Op.GetInt("allowzero", 0) != 0;
        Dim total = input.Aggregate((Dim)1, (a, b) => a * b), rest = 1, inferred = 0;
        var known = new Dim[shape.Length];
        var minusOne = new Dim[shape.Length];
        for (int i = 0; i < shape.Length; i++)
        {
            Dim zero = allowZero ? 0 : Dim.Eq(shape[i], 0);
            minusOne[i] = Dim.Eq(shape[i], -1);
            if (i >= input.Length) Expect(ctx, 1 - zero, $"shape element {i} is 0 but the input has rank {input.Length}");
            else Expect(ctx, 1 - Dim.Lt(shape[i], -1), $"shape element {i} is negative");
            known[i] = (i < input.Length ? zero * input[i] : 0) + (1 - zero - minusOne[i]) * shape[i];
            rest *= known[i] + minusOne[i];
            inferred += minusOne[i];
        }
        Expect(ctx, Dim.Lt(inferred, 2), "the shape operand has more than one -1");
        var dims = new Dim[shape.Length];
        for (int i = 0; i < dims.Length; i++) dims[i] = known[i] + minusOne[i] * (total / Dim.Max(rest, 1));
        Expect(ctx, Dim.Eq(dims.Aggregate((Dim)1, (a, b) => a * b), total), "the shape operand does not hold the input's element count");
        ctx.DefineOutputShape(0, dims);
    }

    /// <summary>Unsqueeze: output position j is 1 when it is an axis, else the next input size.</summary>
    public static void Unsqueeze(LoweringContext ctx)
    {
        if (Read(ctx, 1) is not { } given) return;
        var input = ctx.InputShape(0);
        var axes = Axes(ctx, given, input.Length + given.Length);
        var dims = new Dim[input.Length + given.Length];
        for (int j = 0; j < dims.Length; j++)
        {
            Dim axis = IsAxis(axes, j);
            dims[j] = axis + (1 - axis) * SizeAt(input, j - Before(axes, j));
        }
        ctx.DefineOutputShape(0, dims);
    }

    /// <summary>Squeeze: every axis has size 1; the other sizes stay, in order.</summary>
    public static void Squeeze(LoweringContext ctx)
    {
        if (Read(ctx, 1) is not { } given) return;
        var input = ctx.InputShape(0);
        var axes = Axes(ctx, given, input.Length);
        var dims = Enumerable.Repeat((Dim)0, Math.Max(0, input.Length - given.Length)).ToArray();
        for (int t = 0; t < input.Length; t++)
        {
            Dim axis = IsAxis(axes, t);
            Expect(ctx, 1 - axis * (1 - Dim.Eq(input[t], 1)), $"axis {t} is squeezed but has size {input[t]}");
            for (int j = 0; j < dims.Length; j++) dims[j] += (1 - axis) * Dim.Eq(t - Before(axes, t), j) * input[t];
        }
        ctx.DefineOutputShape(0, dims);
    }

    /// <summary>Expand: the input broadcast with the shape operand, right-aligned.</summary>
    public static void Expand(LoweringContext ctx)
    {
        if (Read(ctx, 1) is not { } shape) return;
        var input = ctx.InputShape(0);
        int rank = Math.Max(input.Length, shape.Length);
        var dims = new Dim[rank];
        for (int j = 0; j < rank; j++)
        {
            int p = j - (rank - shape.Length), q = j - (rank - input.Length);
            if (p < 0) { dims[j] = input[q]; continue; }
            if (q < 0) { dims[j] = shape[p]; continue; }
            Dim one = Dim.Eq(input[q], 1);
            Expect(ctx, Dim.Min(one + Dim.Eq(shape[p], 1) + Dim.Eq(shape[p], input[q]), 1), $"shape element {p} does not broadcast with the input's size {input[q]}");
            dims[j] = one * shape[p] + (1 - one) * input[q];
        }
        ctx.DefineOutputShape(0, dims);
    }

    /// <summary>An operand that lists result <paramref name="result"/>'s sizes exactly (ConstantOfShape's shape, MaxUnpool's output_shape).</summary>
    public static void ExactShape(LoweringContext ctx, int input, int result = 0)
    {
        if (Read(ctx, input) is { } values) ctx.DefineOutputShape(result, values);
    }

    /// <summary>Tile: each size times its repeat.</summary>
    public static void Tile(LoweringContext ctx, Dim[] repeats)
    {
        var input = ctx.InputShape(0);
        ctx.DefineOutputShape(0, input.Select((d, i) => d * repeats[i]).ToArray());
    }

    /// <summary>Reductions over axes given as data: the reduced axes kept as 1, or dropped.</summary>
    public static void ReduceAxes(LoweringContext ctx, bool noopWithEmptyAxes)
    {
        if (Read(ctx, 1) is not { } given) return;
        var input = ctx.InputShape(0);
        bool keepDims = ctx.Op.GetInt("keepdims", 1) != 0;
        if (given.Length == 0)
        {
            // No axes: everything is reduced, or (noop_with_empty_axes) nothing is: a static fact.
            ctx.DefineOutputShape(0, noopWithEmptyAxes ? input : keepDims ? input.Select(_ => (Dim)1).ToArray() : []);
            return;
        }
        var axes = Axes(ctx, given, input.Length);
        var dims = keepDims ? new Dim[input.Length] : Enumerable.Repeat((Dim)0, Math.Max(0, input.Length - given.Length)).ToArray();
        for (int t = 0; t < input.Length; t++)
        {
            Dim axis = IsAxis(axes, t);
            if (keepDims) dims[t] = axis + (1 - axis) * input[t];
            else for (int j = 0; j < dims.Length; j++) dims[j] += (1 - axis) * Dim.Eq(t - Before(axes, t), j) * input[t];
        }
        ctx.DefineOutputShape(0, dims);
    }
}
