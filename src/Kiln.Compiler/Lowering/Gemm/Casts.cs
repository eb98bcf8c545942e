using Kiln.Runtime;

namespace Kiln.Compiler.Lowering.Gemm;

/// <summary>Element type conversions around kernels that compute in float32 (elementwise copies).</summary>
public static class Casts
{
    /// <summary>A temporary holding <paramref name="x"/> converted to <paramref name="to"/>.</summary>
    public static TensorRef To(LoweringContext ctx, TensorRef x, DType to)
    {
        var t = ctx.NewTemporary(to, x.Shape);
        Copy(ctx, x, t);
        return t;
    }

    /// <summary>Copies <paramref name="source"/> into <paramref name="destination"/> (same shape), converting the element type.</summary>
    public static void Copy(LoweringContext ctx, TensorRef source, TensorRef destination) =>
        StridedCopy.Emit(ctx, destination.Shape, StridedView.Contiguous(source), StridedView.Contiguous(destination));
}
