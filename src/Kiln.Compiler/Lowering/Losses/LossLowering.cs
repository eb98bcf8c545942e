using Kiln.Compiler.Lowering.Reduction;
using Kiln.Runtime.Kernels.Losses;
using Kiln.Runtime.Kernels.Reduction;

namespace Kiln.Compiler.Lowering.Losses;

/// <summary>
/// NegativeLogLikelihoodLoss as one "nll-loss" dispatch; SoftmaxCrossEntropyLoss as a LogSoftmax
/// over the class axis (into its second result when that is used) followed by the same loss.
/// </summary>
[Lowerings]
public static class LossLowering
{
    public static void Register(LoweringRegistry r)
    {
        r.Add("NegativeLogLikelihoodLoss", ctx => EmitLoss(ctx, ctx.Input(0)));
        r.Add("SoftmaxCrossEntropyLoss", ctx =>
        {
            var scores = ctx.Input(0);
            var logProb = ctx.Op.HasOutput(1) ? ctx.NewOutput(1) : ctx.NewTemporary(scores.DType, scores.Shape);
            SoftmaxLowering.Emit(ctx, SoftmaxKind.LogSoftmax, scores, 1, logProb);
            EmitLoss(ctx, logProb);
        });
    }

    private static void EmitLoss(LoweringContext ctx, TensorRef logProb)
    {
        var target = ctx.Input(1);
        var weight = ctx.OptionalInput(2);
        var reduction = ctx.Op.GetString("reduction", "mean") switch
        {
            "none" => LossReduction.None,
            "sum" => LossReduction.Sum,
            _ => LossReduction.Mean,
        };
        long? ignore = ctx.Op.HasAttribute("ignore_index") ? ctx.Op.GetInt("ignore_index") : null;
        var descriptor = NllLossKernel.Encode(logProb.DType, target.DType, reduction, weight is not null, ignore);
        var inputs = weight is null ? new[] { logProb, target } : [logProb, target, weight];
        var constants = new[] { logProb.Shape[0], logProb.Shape[1], Layout.Product(logProb.Shape.Skip(2)) };
        ctx.Dispatch(new KernelSpec(NllLossKernel.KernelName, descriptor, inputs.Length + 1, 3), inputs, [ctx.NewOutput(0)], constants);
    }
}
