using Kiln.Compiler.Passes;
using Kiln.Runtime.Kernels.Gemm;

namespace Kiln.Compiler.Lowering.Gemm;

/// <summary>
/// The operators <see cref="FuseEpilogues"/> makes (FusedConv, FusedConvTranspose, FusedGemm,
/// FusedMatMul in the "kiln" domain): the base operator's lowering with the stages of the
/// attributes appended to its epilogue, each operand read from the inputs after the base ones.
/// </summary>
[Lowerings]
public static class FusedLowering
{
    public static void Register(LoweringRegistry r)
    {
        r.Add(FuseEpilogues.FusedName("Conv"), ctx => ConvLowering.Lower(ctx, Plan(ctx, "Conv")), FuseEpilogues.Domain);
        r.Add(FuseEpilogues.FusedName("ConvTranspose"), ctx => ConvTransposeLowering.Lower(ctx, Plan(ctx, "ConvTranspose")), FuseEpilogues.Domain);
        r.Add(FuseEpilogues.FusedName("Gemm"), ctx => MatMulLowering.LowerGemm(ctx, Plan(ctx, "Gemm")), FuseEpilogues.Domain);
        r.Add(FuseEpilogues.FusedName("MatMul"), ctx => MatMulLowering.LowerMatMul(ctx, Plan(ctx, "MatMul")), FuseEpilogues.Domain);
    }

    private static EpiloguePlan Plan(LoweringContext ctx, string baseType)
    {
        var ops = ctx.Op.GetInts(FuseEpilogues.OpsAttribute) ?? [];
        var parameters = ctx.Op.GetFloats(FuseEpilogues.ParamsAttribute) ?? [];
        if (parameters.Length != 2 * ops.Length) throw ctx.Unsupported("epilogue attributes of different lengths");
        var shape = ctx.OutputShape(0);
        int rowAxis = baseType switch { "Gemm" => 0, "MatMul" => shape.Length - 2, _ => 1 };
        int operand = FuseEpilogues.BaseInputs[baseType];
        var plan = new EpiloguePlan();
        for (int i = 0; i < ops.Length; i++)
        {
            var stage = new EpilogueStage((EpilogueOp)ops[i], parameters[2 * i], parameters[2 * i + 1]);
            if (!stage.HasOperand)
            {
                plan.Add(stage);
                continue;
            }
            var strides = EpilogueAddressing.Strides(ctx.InputShape(operand), shape, rowAxis)
                ?? throw ctx.Unsupported($"epilogue operand {operand} does not broadcast to the result as [batch, row, column]");
            plan.AddOperand(stage.Op, new EpilogueOperand(ctx.Input(operand++), strides.Batch, strides.Row, strides.Column), stage.P0);
        }
        return plan;
    }
}
