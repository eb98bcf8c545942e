using Kiln.Ir;

namespace Kiln.Onnx;

/// <summary>Older forms of the signal-processing operators.</summary>
[OnnxUpgrades]
public static class SignalUpgrades
{
    public static void Register(UpgradeRegistry r)
    {
        // DFT-17 took the axis as an attribute defaulting to 1; DFT-20 takes it as an input
        // defaulting to -2, so the old default must be made explicit.
        r.Add("DFT", 20, ctx =>
        {
            long axis = ctx.Take("axis")?.AsInt() ?? 1;
            ctx.SetInput(2, ctx.Constant(TensorData.Scalar(ElementType.Int64, axis), "dft_axis"));
        });
    }
}
