using Kiln.Ir;
using Kiln.Runtime;
using Kiln.Runtime.Kernels.LinearAlgebra;

namespace Kiln.Compiler.Lowering.Contraction;

/// <summary>Det as one "det" dispatch over the batch of matrices in the last two axes.</summary>
[Lowerings]
public static class DetLowering
{
    public static void Register(LoweringRegistry r) => r.Add("Det", Lower);

    private static void Lower(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Rank < 2) throw ctx.Unsupported("the input must be square matrices [*, M, M]");
        if (x.DType is not (DType.Float32 or DType.Float64 or DType.Float16 or DType.BFloat16)) throw ctx.Unsupported($"a determinant of {x.DType.Name()} elements");
        var y = ctx.NewOutput(0);
        // Square matrices are checked where both sizes are known; symbolic ones must agree at run time.
        ShapeOperands.Expect(ctx, Dim.Eq(x.Shape[^2], x.Shape[^1]), "Det needs square matrices");
        var descriptor = DetKernel.Encode(x.DType);
        ctx.Dispatch(new KernelSpec(DetKernel.KernelName, descriptor, 2, 2), [x], [y], [Layout.Product(x.Shape.SkipLast(2)), x.Shape[^1]]);
    }
}
