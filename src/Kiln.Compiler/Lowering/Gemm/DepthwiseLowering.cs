using Kiln.Ir;
using Kiln.Runtime.Kernels.Gemm;

namespace Kiln.Compiler.Lowering.Gemm;

/// <summary>Depthwise convolutions (one input channel per group) as "conv.depthwise" dispatches.</summary>
public static class DepthwiseLowering
{
    public static bool Applies(int rank, long channelsPerGroup, long groups, ConvWindow window) => false;

    public static void Emit(LoweringContext ctx, TensorRef x, TensorRef y, ConvWindow window, ConvLowering.SpatialSizes sizes, int multiplier,
        TensorData? weights, Func<int, TensorRef> inputs, EpiloguePlan plan) => throw new NotImplementedException();
}
