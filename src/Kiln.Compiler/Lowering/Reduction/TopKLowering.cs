using Kiln.Runtime.Kernels.Reduction;

namespace Kiln.Compiler.Lowering.Reduction;

/// <summary>TopK as one "topk" dispatch. k sizes the results (from the declared shape); the kernel checks the k it is given.</summary>
[Lowerings]
public static class TopKLowering
{
    public static void Register(LoweringRegistry r) => r.Add("TopK", Lower);

    private static void Lower(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Rank == 0) throw ctx.Unsupported("a scalar has no axis to select along");
        int axis = (int)ctx.Op.GetInt("axis", -1);
        if (axis < 0) axis += x.Rank;
        var values = ctx.NewOutput(0);
        var indices = ctx.Op.HasOutput(1) ? ctx.NewOutput(1) : ctx.NewTemporary(Runtime.DType.Int64, values.Shape);
        var descriptor = TopKKernel.Encode(x.DType, x.Rank, axis, ctx.Op.GetInt("largest", 1) != 0);
        ctx.Dispatch(new KernelSpec(TopKKernel.KernelName, descriptor, 4, x.Rank + 1), [x, ctx.Input(1)], [values, indices], [.. x.Shape, values.Shape[axis]]);
    }
}
