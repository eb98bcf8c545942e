using Kiln.Runtime;

namespace Kiln.Compiler.Lowering;

/// <summary>
/// Kernels that compute in float32 or float64 serve the narrow float types (float16, bfloat16)
/// the way the reference does: widen to float32, compute, round back. These helpers add the
/// casting copies around a dispatch (elementwise copies convert between dtypes).
/// </summary>
internal static class ComputeCasts
{
    /// <summary>float64 stays, every other float type computes in float32.</summary>
    public static DType FloatFor(DType t) => t == DType.Float64 ? DType.Float64 : DType.Float32;

    /// <summary>The tensor converted to <paramref name="dtype"/> (itself when it already is).</summary>
    public static TensorRef Converted(LoweringContext ctx, TensorRef t, DType dtype)
    {
        if (t.DType == dtype) return t;
        var converted = ctx.NewTemporary(dtype, t.Shape);
        CopyConverting(ctx, t, converted);
        return converted;
    }

    /// <summary>
    /// Where a kernel writing <paramref name="dtype"/> should put a result destined for
    /// <paramref name="result"/>: the result itself, or a temporary that <see cref="Finish"/> converts.
    /// </summary>
    public static TensorRef Target(LoweringContext ctx, TensorRef result, DType dtype) =>
        result.DType == dtype ? result : ctx.NewTemporary(dtype, result.Shape);

    /// <summary>Converts a temporary from <see cref="Target"/> into its result (nothing when they are the same tensor).</summary>
    public static void Finish(LoweringContext ctx, TensorRef computed, TensorRef result)
    {
        if (!ReferenceEquals(computed, result)) CopyConverting(ctx, computed, result);
    }

    private static void CopyConverting(LoweringContext ctx, TensorRef from, TensorRef to)
    {
        if (from.ElementCount.TryGetValue(out long n) && n == 0) return;
        StridedCopy.Emit(ctx, from.Shape, StridedView.Contiguous(from), StridedView.Contiguous(to));
    }
}
