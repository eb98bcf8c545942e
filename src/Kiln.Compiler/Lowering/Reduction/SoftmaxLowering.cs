using Kiln.Runtime.Kernels.Reduction;

namespace Kiln.Compiler.Lowering.Reduction;

/// <summary>Softmax, LogSoftmax and Hardmax (opset-13 form: one axis) as one fused "softmax" dispatch.</summary>
[Lowerings]
public static class SoftmaxLowering
{
    public static void Register(LoweringRegistry r)
    {
        r.Add("Softmax", ctx => Lower(ctx, SoftmaxKind.Softmax));
        r.Add("LogSoftmax", ctx => Lower(ctx, SoftmaxKind.LogSoftmax));
        r.Add("Hardmax", ctx => Lower(ctx, SoftmaxKind.Hardmax));
    }

    private static void Lower(LoweringContext ctx, SoftmaxKind kind) =>
        Emit(ctx, kind, ctx.Input(0), (int)ctx.Op.GetInt("axis", -1), ctx.NewOutput(0));

    /// <summary>Dispatches the softmax kernel of <paramref name="kind"/> along <paramref name="axis"/> (negative counts from the end).</summary>
    public static void Emit(LoweringContext ctx, SoftmaxKind kind, TensorRef x, int axis, TensorRef y)
    {
        if (x.Rank == 0) throw ctx.Unsupported("a scalar has no axis to normalize along");
        if (axis < 0) axis += x.Rank;
        var descriptor = SoftmaxKernel.Encode(kind, x.DType, x.Rank, axis);
        ctx.Dispatch(new KernelSpec(SoftmaxKernel.KernelName, descriptor, 2, x.Rank), [x], [y], x.Shape);
    }
}
