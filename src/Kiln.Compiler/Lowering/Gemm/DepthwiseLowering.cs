using Kiln.Ir;
using Kiln.Runtime.Kernels.Gemm;

namespace Kiln.Compiler.Lowering.Gemm;

/// <summary>
/// 2-D depthwise convolutions (one input channel per group, any channel multiplier) as
/// "conv.depthwise" dispatches: the weights stay in their ONNX layout, which is already the one
/// the kernel reads; the bias and fused work run in its epilogue.
/// </summary>
public static class DepthwiseLowering
{
    /// <summary>Windows up to 7×7 run direct; larger ones are left to the GEMM path.</summary>
    private const int MaxTaps = 49;

    public static bool Applies(int rank, long channelsPerGroup, long groups, ConvWindow window) =>
        rank == 2 && channelsPerGroup == 1 && window.Taps <= MaxTaps;

    public static void Emit(LoweringContext ctx, TensorRef x, TensorRef y, ConvWindow window, ConvLowering.SpatialSizes sizes,
        int multiplier, Func<int, TensorRef> inputs, EpiloguePlan plan)
    {
        var epilogue = plan.Build();
        var constants = new List<Dim> { x.Shape[0] };
        constants.AddRange(sizes.Input);
        constants.AddRange(sizes.Output);
        constants.AddRange(sizes.PadBegin);
        constants.AddRange(plan.Constants());
        int channels = checked((int)x.Shape[1].Value);
        var spec = new KernelSpec(DepthwiseConvKernel.KernelName, DepthwiseConvKernel.Encode(channels, multiplier, window, epilogue),
            3 + epilogue.OperandCount, constants.Count);
        ctx.Dispatch(spec, [x, inputs(1), .. plan.Operands.Select(o => o.Tensor)], [y], constants);
    }
}
