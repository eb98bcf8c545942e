using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// Inference helpers for operators whose result shapes depend on small integer operands (axes,
/// pads, repeats, sizes) and on dimensions that must agree.
/// </summary>
public static class InferValues
{
    /// <summary>The elements of an integer operand when every one is known at compile time; null otherwise.</summary>
    public static long[]? KnownInts(InferenceContext ctx, int input)
    {
        if (!ctx.HasInput(input)) return null;
        if (ctx.InputConstant(input) is { } c && (c.ElementType.IsInteger() || c.ElementType == ElementType.Bool))
            return c.ToInt64Array();
        if (ctx.InputShapeValue(input) is { } dims && dims.All(d => d.IsKnown))
            return dims.Select(d => d.Value).ToArray();
        return null;
    }

    /// <summary>
    /// One dimension two operands must share: a known size wins over a symbolic one; two different
    /// known sizes are an error naming <paramref name="what"/>.
    /// </summary>
    public static Dim Same(InferenceContext ctx, Dim a, Dim b, string what)
    {
        if (a == b) return a;
        if (a.IsKnown && b.IsKnown) throw ctx.Error($"{what}: sizes {a} and {b} differ");
        return a.IsKnown ? a : b.IsKnown ? b : a.IsUnknown ? b : a;
    }

    /// <summary>
    /// Records the results' element types (result i gets types[i]) with unranked shapes before the
    /// shapes are worked out: when an input turns out to have unknown rank (ShapeUnknownException),
    /// the results keep the right element types instead of the importer's placeholders.
    /// </summary>
    public static void ElementTypesFirst(InferenceContext ctx, params ElementType[] types)
    {
        for (int i = 0; i < types.Length && i < ctx.OutputCount; i++) ctx.SetOutput(i, types[i], Shape.Unranked);
    }

    /// <summary>A shape of the given rank whose sizes are all unknown.</summary>
    public static Shape UnknownDims(int rank) => new(Enumerable.Range(0, rank).Select(_ => Dim.Unknown()));
}
