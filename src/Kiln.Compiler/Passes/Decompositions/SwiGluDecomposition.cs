using Kiln.Ir;

namespace Kiln.Compiler.Passes.Decompositions;

/// <summary>
/// SwiGLU(A, B) = Swish_alpha(A) * B. Swish has a kernel, so the gate goes through it (rounded to
/// the element type, as the spec's function body does) and a Mul finishes.
/// </summary>
public static class SwiGluDecomposition
{
    public static Value?[] Rewrite(DecompositionBuilder b, Operation op)
    {
        var gate = b.Add("Swish", [op.Input(0)], DecompositionBuilder.Attrs(("alpha", AttributeValue.Float(op.GetFloat("alpha", 1)))));
        return [b.Add("Mul", [gate, op.Input(1)])];
    }
}
