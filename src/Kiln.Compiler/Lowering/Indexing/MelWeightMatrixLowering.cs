using Kiln.Ir;
using Kiln.Runtime.Kernels.Indexing;

namespace Kiln.Compiler.Lowering.Indexing;

/// <summary>
/// MelWeightMatrix: one dispatch of its kernel. When num_mel_bins or dft_length are computed at
/// run time, the host program reads them and the result's shape [dft_length/2 + 1, num_mel_bins]
/// follows from them (a declared shape is checked); the kernel checks its operands give that shape.
/// </summary>
[Lowerings]
public static class MelWeightMatrixLowering
{
    public static void Register(LoweringRegistry r) => r.Add("MelWeightMatrix", Lower);

    private static void Lower(LoweringContext ctx)
    {
        var mels = ShapeOperands.Read(ctx, 0);
        var dftLength = ShapeOperands.Read(ctx, 1);
        if (mels is not null || dftLength is not null)
        {
            Dim m = mels?[0] ?? ctx.Constant(0)!.GetInt64(0), n = dftLength?[0] ?? ctx.Constant(1)!.GetInt64(0);
            ctx.DefineOutputShape(0, [n / 2 + 1, m]);
        }
        var y = ctx.NewOutput(0);
        var operands = Enumerable.Range(0, 5).Select(ctx.Input).ToArray();
        var descriptor = MelWeightMatrixKernel.Encode(operands[0].DType, operands[1].DType, operands[2].DType, operands[3].DType, operands[4].DType, y.DType);
        ctx.Dispatch(new KernelSpec(MelWeightMatrixKernel.KernelName, descriptor, 6, 2), operands, [y], [y.Shape[0], y.Shape[1]]);
    }
}
