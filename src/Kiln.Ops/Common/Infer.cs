using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>Type-inference building blocks shared by many operators.</summary>
public static class Infer
{
    /// <summary>Result 0 has the type of input <paramref name="input"/>.</summary>
    public static void SameAsInput(InferenceContext ctx, int input = 0, int output = 0) =>
        ctx.SetOutput(output, ctx.InputType(input));

    /// <summary>Result 0 is the broadcast of the given inputs, with the given element type (default: input 0's).</summary>
    public static void Broadcast(InferenceContext ctx, ElementType? resultType = null, params int[] inputs)
    {
        if (inputs.Length == 0) inputs = Enumerable.Range(0, ctx.InputCount).Where(ctx.HasInput).ToArray();
        var et = resultType ?? ctx.InputElementType(inputs[0]);
        var shape = Broadcasting.Shape(ctx, inputs.Select(ctx.InputShape).ToArray());
        ctx.SetOutput(0, et, shape ?? Shape.Unranked);
    }

    /// <summary>Checks that the given inputs share one element type, and returns it.</summary>
    public static ElementType SameElementType(InferenceContext ctx, params int[] inputs)
    {
        var et = ctx.InputElementType(inputs[0]);
        foreach (int i in inputs.Skip(1))
            if (ctx.HasInput(i) && ctx.InputElementType(i) != et)
                throw ctx.TypeError($"inputs {inputs[0]} and {i} must have the same element type, got {et.OnnxName()} and {ctx.InputElementType(i).OnnxName()}");
        return et;
    }

    /// <summary>Checks that an input's element type is one of the allowed ones.</summary>
    public static void ElementTypeIn(InferenceContext ctx, int input, Func<ElementType, bool> allowed, string what)
    {
        var et = ctx.InputElementType(input);
        if (!allowed(et)) throw ctx.TypeError($"input {input} must be {what}, got {et.OnnxName()}");
    }

    /// <summary>A rank-1 shape of the given length.</summary>
    public static Shape Vector(Dim length) => Shape.Of(length);
}
