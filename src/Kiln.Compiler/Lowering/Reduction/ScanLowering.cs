using Kiln.Runtime.Kernels.Reduction;

namespace Kiln.Compiler.Lowering.Reduction;

/// <summary>CumSum and CumProd as one "scan" dispatch; the axis operand is read by the kernel (constant or not).</summary>
[Lowerings]
public static class ScanLowering
{
    public static void Register(LoweringRegistry r)
    {
        r.Add("CumSum", ctx => Lower(ctx, product: false));
        r.Add("CumProd", ctx => Lower(ctx, product: true));
    }

    private static void Lower(LoweringContext ctx, bool product)
    {
        var x = ctx.Input(0);
        var axis = ctx.Input(1);
        if (x.Rank == 0) throw ctx.Unsupported("a scalar has no axis to scan along");
        var descriptor = ScanKernel.Encode(product, x.DType, axis.DType, x.Rank,
            ctx.Op.GetInt("exclusive", 0) != 0, ctx.Op.GetInt("reverse", 0) != 0);
        ctx.Dispatch(new KernelSpec(ScanKernel.KernelName, descriptor, 3, x.Rank), [x, axis], [ctx.NewOutput(0)], x.Shape);
    }
}
