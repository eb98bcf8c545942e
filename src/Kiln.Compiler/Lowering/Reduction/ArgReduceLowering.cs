using Kiln.Runtime.Kernels.Reduction;

namespace Kiln.Compiler.Lowering.Reduction;

/// <summary>ArgMax and ArgMin as one "argreduce" dispatch (keepdims only changes the result's shape, not its layout).</summary>
[Lowerings]
public static class ArgReduceLowering
{
    public static void Register(LoweringRegistry r)
    {
        r.Add("ArgMax", ctx => Lower(ctx, seekMax: true));
        r.Add("ArgMin", ctx => Lower(ctx, seekMax: false));
    }

    private static void Lower(LoweringContext ctx, bool seekMax)
    {
        var x = ctx.Input(0);
        int axis = (int)ctx.Op.GetInt("axis", 0);
        if (axis < 0) axis += x.Rank;
        bool last = ctx.Op.GetInt("select_last_index", 0) != 0;
        var descriptor = ArgReduceKernel.Encode(x.DType, x.Rank, axis, seekMax, last);
        ctx.Dispatch(new KernelSpec(ArgReduceKernel.KernelName, descriptor, 2, x.Rank), [x], [ctx.NewOutput(0)], x.Shape);
    }
}
