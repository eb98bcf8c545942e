using Kiln.Ir;
using Kiln.Runtime;

namespace Kiln.Compiler.Lowering;

/// <summary>
/// Run-time checks for shape operands given as data (Reshape's shape, Unsqueeze's axes, Expand's
/// shape, Split's sizes, ReduceSum's axes, ...). When such an operand is not a constant, inference
/// cannot compute the result's shape, and the compiled program takes it from the model's declared
/// type instead. The module is then only right for operand values that give that shape, so the
/// host program reads the operand's elements (one symbolic size each) and fails the invocation with
/// a clear error naming the operation when they give another shape: a declared shape is a contract
/// checked at run time, never trusted silently. Conditions are dimension expressions built from
/// <see cref="Dim.Eq"/> and <see cref="Dim.Lt"/> (1 or 0); with static input shapes they fold to
/// a few comparisons per element. A condition that folds to false is a compile-time error.
/// </summary>
internal static class ShapeOperandChecks
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

    private static Dim Not(Dim c) => 1 - c;
    private static Dim Any(Dim a, Dim b) => Dim.Min(a + b, 1);
    private static string Shape(Dim[] dims) => $"[{string.Join(",", dims)}]";

    /// <summary>An axis in [-rank, rank), made non-negative; checked at run time.</summary>
    public static Dim[] NormalizeAxes(LoweringContext ctx, Dim[] axes, int rank) => Axes(ctx, axes, rank);

    private static Dim[] Axes(LoweringContext ctx, Dim[] axes, int rank)
    {
        var normalized = new Dim[axes.Length];
        for (int k = 0; k < axes.Length; k++)
        {
            Expect(ctx, Dim.Lt(axes[k], rank) * Not(Dim.Lt(axes[k], -rank)), $"axis operand {k} is out of range for rank {rank}");
            normalized[k] = axes[k] + rank * Dim.Lt(axes[k], 0);
        }
        for (int k = 0; k < axes.Length; k++)
            for (int l = k + 1; l < axes.Length; l++)
                Expect(ctx, Not(Dim.Eq(normalized[k], normalized[l])), $"axis operands {k} and {l} name the same axis");
        return normalized;
    }

    private static Dim IsAxis(Dim[] axes, int position) => axes.Aggregate((Dim)0, (s, a) => s + Dim.Eq(a, position));

    /// <summary>How many of the axes come before <paramref name="position"/>.</summary>
    private static Dim Before(Dim[] axes, int position) => axes.Aggregate((Dim)0, (s, a) => s + Dim.Lt(a, position));

    /// <summary>1 when the size at run-time index <paramref name="index"/> of <paramref name="dims"/> is <paramref name="size"/>.</summary>
    private static Dim SizeAt(Dim[] dims, Dim index, Dim size)
    {
        Dim found = 0;
        for (int t = 0; t < dims.Length; t++) found += Dim.Eq(index, t) * Dim.Eq(dims[t], size);
        return found;
    }

    /// <summary>Reshape: each shape element is the declared size, 0 (copy the input's size, unless allowzero) or the one -1.</summary>
    public static void Reshape(LoweringContext ctx)
    {
        if (Read(ctx, 1) is not { } shape) return;
        var input = ctx.Input(0).Shape;
        var output = ctx.OutputShape(0);
        bool allowZero = ctx.Op.GetInt("allowzero", 0) != 0;
        string what = $"the shape operand at run time does not give the compiled shape {Shape(output)}";
        Expect(ctx, Dim.Eq(input.Aggregate((Dim)1, (a, b) => a * b), output.Aggregate((Dim)1, (a, b) => a * b)), $"the input's {Shape(input)} and the compiled result's {Shape(output)} sizes differ");
        Dim inferred = 0;
        for (int i = 0; i < shape.Length; i++)
        {
            Dim zero = Dim.Eq(shape[i], 0), minusOne = Dim.Eq(shape[i], -1);
            Dim ok = allowZero ? Dim.Eq(shape[i], output[i]) : Dim.Eq(shape[i], output[i]) * Not(zero);
            if (!allowZero && i < input.Length) ok += zero * Dim.Eq(input[i], output[i]);
            Expect(ctx, Any(ok, minusOne), what);
            inferred += minusOne;
        }
        Expect(ctx, Dim.Lt(inferred, 2), "the shape operand has more than one -1");
    }

    /// <summary>Unsqueeze: output position j is 1 when it is an axis, else the next input size.</summary>
    public static void Unsqueeze(LoweringContext ctx)
    {
        if (Read(ctx, 1) is not { } given) return;
        var input = ctx.Input(0).Shape;
        var output = ctx.OutputShape(0);
        var axes = Axes(ctx, given, output.Length);
        for (int j = 0; j < output.Length; j++)
        {
            Dim axis = IsAxis(axes, j);
            Expect(ctx, axis * Dim.Eq(output[j], 1) + Not(axis) * SizeAt(input, j - Before(axes, j), output[j]),
                $"the axes operand at run time does not give the compiled shape {Shape(output)}");
        }
    }

    /// <summary>Squeeze: every axis has size 1, the others give the output's sizes in order.</summary>
    public static void Squeeze(LoweringContext ctx)
    {
        if (Read(ctx, 1) is not { } given) return;
        var input = ctx.Input(0).Shape;
        var output = ctx.OutputShape(0);
        var axes = Axes(ctx, given, input.Length);
        for (int t = 0; t < input.Length; t++)
        {
            Dim axis = IsAxis(axes, t);
            Expect(ctx, axis * Dim.Eq(input[t], 1) + Not(axis) * SizeAt(output, t - Before(axes, t), input[t]),
                $"the axes operand at run time does not give the compiled shape {Shape(output)} (an axis must have size 1)");
        }
    }

    /// <summary>Expand: the input broadcast with the shape operand (right-aligned) gives the declared shape.</summary>
    public static void Expand(LoweringContext ctx)
    {
        if (Read(ctx, 1) is not { } shape) return;
        var input = ctx.Input(0).Shape;
        var output = ctx.OutputShape(0);
        string what = $"the shape operand at run time does not broadcast the input {Shape(input)} to the compiled shape {Shape(output)}";
        for (int j = 0; j < output.Length; j++)
        {
            int p = j - (output.Length - shape.Length), q = j - (output.Length - input.Length);
            Dim d = output[j];
            if (p < 0) continue; // the input's own size, checked by inference
            if (q < 0) { Expect(ctx, Dim.Eq(shape[p], d), what); continue; }
            Expect(ctx, Any(Dim.Eq(shape[p], d) * Any(Dim.Eq(input[q], d), Dim.Eq(input[q], 1)), Dim.Eq(shape[p], 1) * Dim.Eq(input[q], d)), what);
        }
    }

    /// <summary>An operand that lists the result's sizes exactly (ConstantOfShape's shape).</summary>
    public static void ExactShape(LoweringContext ctx, int input, Dim[] expected, string operand)
    {
        if (Read(ctx, input) is not { } values) return;
        if (values.Length != expected.Length) throw new KilnException(ErrorCode.InvalidModel, $"{ctx.Op.Describe()}: {operand} has {values.Length} elements for a rank-{expected.Length} result");
        for (int i = 0; i < values.Length; i++)
            Expect(ctx, Dim.Eq(values[i], expected[i]), $"{operand} at run time does not give the compiled shape {Shape(expected)}");
    }

    /// <summary>Tile: each repeat times the input's size is the declared size.</summary>
    public static void Tile(LoweringContext ctx, Dim[] repeats)
    {
        var input = ctx.Input(0).Shape;
        var output = ctx.OutputShape(0);
        for (int i = 0; i < repeats.Length; i++)
            Expect(ctx, Dim.Eq(repeats[i] * input[i], output[i]), $"the repeats operand at run time does not give the compiled shape {Shape(output)}");
    }

    /// <summary>Reductions over axes given as data: the reduced axes (kept as 1, or dropped) give the declared shape.</summary>
    public static void ReduceAxes(LoweringContext ctx, bool noopWithEmptyAxes)
    {
        if (Read(ctx, 1) is not { } given) return;
        var input = ctx.Input(0).Shape;
        var output = ctx.OutputShape(0);
        bool keepDims = ctx.Op.GetInt("keepdims", 1) != 0;
        string what = $"the axes operand at run time does not give the compiled shape {Shape(output)}";
        if (given.Length == 0)
        {
            // No axes: everything is reduced, or (noop_with_empty_axes) nothing is: a static fact.
            var expected = noopWithEmptyAxes ? input : keepDims ? input.Select(_ => (Dim)1).ToArray() : [];
            Expect(ctx, expected.Length == output.Length ? expected.Zip(output).Aggregate((Dim)1, (c, p) => c * Dim.Eq(p.First, p.Second)) : 0, what);
            return;
        }
        if (output.Length != (keepDims ? input.Length : input.Length - given.Length))
            throw new KilnException(ErrorCode.InvalidModel, $"{ctx.Op.Describe()}: {given.Length} axes cannot give the compiled rank-{output.Length} result");
        var axes = Axes(ctx, given, input.Length);
        for (int t = 0; t < input.Length; t++)
        {
            Dim axis = IsAxis(axes, t);
            Dim ok = keepDims
                ? axis * Dim.Eq(output[t], 1) + Not(axis) * Dim.Eq(input[t], output[t])
                : axis + Not(axis) * SizeAt(output, t - Before(axes, t), input[t]);
            Expect(ctx, ok, what);
        }
    }
}
