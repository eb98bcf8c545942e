using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>The element types an operand accepts, with the words an error message uses for them.</summary>
public sealed record ElementTypeSet(string Description, Func<ElementType, bool> Contains)
{
    public static readonly ElementTypeSet Float = new("a float type", t => t.IsFloat());
    public static readonly ElementTypeSet Numeric = new("numeric", t => t.IsNumeric());
    public static readonly ElementTypeSet SignedNumeric = new("a float or signed integer type", t => t.IsFloat() || t.IsSignedInteger());
    public static readonly ElementTypeSet Bool = new("bool", t => t == ElementType.Bool);
    public static readonly ElementTypeSet NumericOrBoolOrString = new("numeric, bool or string", t => t.IsNumeric() || t is ElementType.Bool or ElementType.String);

    public void Check(InferenceContext ctx, int input)
    {
        var et = ctx.InputElementType(input);
        if (!Contains(et)) throw ctx.TypeError($"input {input} must be {Description}, got {et.OnnxName()}");
    }
}

/// <summary>
/// A unary elementwise operator: the result has the operand's shape and, unless given, its
/// element type. <paramref name="validate"/> rejects bad attribute values (and combinations
/// of attributes and types) at compile time.
/// </summary>
public sealed class UnaryDefinition(string opType, ElementTypeSet accepts, Func<Operation, TensorData, TensorData> evaluate,
    ElementType? resultType = null, Action<InferenceContext>? validate = null) : OpDefinition
{
    public override string OpType => opType;

    public override void InferTypes(InferenceContext ctx)
    {
        accepts.Check(ctx, 0);
        validate?.Invoke(ctx);
        ctx.SetOutput(0, resultType ?? ctx.InputElementType(0), ctx.InputShape(0));
    }

    public override void Evaluate(EvaluationContext ctx) => ctx.SetOutput(0, evaluate(ctx.Op, ctx.Tensor(0)));
}

/// <summary>
/// A binary elementwise operator with broadcasting on operands of one element type. The result
/// has that type unless <paramref name="resultType"/> says otherwise (bool for comparisons).
/// With <paramref name="shapeValue"/>, symbolic shape values are combined elementwise too;
/// <paramref name="validate"/> is as for <see cref="UnaryDefinition"/>.
/// </summary>
public sealed class BinaryDefinition(string opType, ElementTypeSet accepts, Func<Operation, TensorData, TensorData, TensorData> evaluate,
    ElementType? resultType = null, Func<Dim, Dim, Dim?>? shapeValue = null, Action<InferenceContext>? validate = null) : OpDefinition
{
    public override string OpType => opType;
    public override int MinInputs => 2;

    public override void InferTypes(InferenceContext ctx)
    {
        var et = Infer.SameElementType(ctx, 0, 1);
        accepts.Check(ctx, 0);
        validate?.Invoke(ctx);
        Infer.Broadcast(ctx, resultType ?? et, 0, 1);
        if (shapeValue is not null) ShapeValues.Combine(ctx, d => shapeValue(d[0], d[1]), 0, 1);
    }

    public override void Evaluate(EvaluationContext ctx) => ctx.SetOutput(0, evaluate(ctx.Op, ctx.Tensor(0), ctx.Tensor(1)));
}

/// <summary>Elementwise arithmetic on the symbolic contents of small integer tensors (shape values).</summary>
public static class ShapeValues
{
    /// <summary>
    /// Sets result 0's shape value to <paramref name="f"/> applied to the inputs' shape values
    /// element by element (length-1 values broadcast), when all are known. Elements f cannot
    /// decide (it returns null) are unknown; if none is decided there is no shape value.
    /// </summary>
    public static void Combine(InferenceContext ctx, Func<Dim[], Dim?> f, params int[] inputs)
    {
        var values = new Dim[inputs.Length][];
        for (int k = 0; k < inputs.Length; k++)
            if ((values[k] = ctx.InputShapeValue(inputs[k])!) is null) return;
        int n = values.Max(v => v.Length);
        if (values.Any(v => v.Length != n && v.Length != 1)) return;
        var result = new Dim[n];
        var args = new Dim[inputs.Length];
        bool anyDecided = false;
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < args.Length; k++) args[k] = values[k][values[k].Length == 1 ? 0 : i];
            var d = f(args);
            anyDecided |= d is not null;
            result[i] = d ?? Dim.Unknown();
        }
        if (anyDecided) ctx.SetOutputShapeValue(0, result);
    }

    /// <summary>Truth as a shape value: 1 or 0 when decidable at compile time, null otherwise.</summary>
    public static Dim? Truth(bool? b) => b is { } v ? (v ? 1 : 0) : null;

    /// <summary>Whether two sizes are equal: known when both are known or they are the same expression.</summary>
    public static bool? AreEqual(Dim a, Dim b) =>
        a.IsKnown && b.IsKnown ? a.Value == b.Value : a == b && !a.IsUnknown ? true : null;
}
