using Kiln.Runtime.Kernels.Contraction;
using Kiln.Runtime.Kernels.Elementwise;
using Kiln.Runtime.Kernels.Gemm;
using Kiln.Runtime.Kernels.Normalization;
using Kiln.Runtime.Kernels.Pooling;
using Kiln.Runtime.Kernels.Resize;
using Kiln.Runtime.Kernels.Sampling;
using Kiln.Runtime.Kernels.Indexing;
using Kiln.Runtime.Kernels.Losses;
using Kiln.Runtime.Kernels.Reduction;
using Kiln.Runtime.Kernels.LinearAlgebra;
using Kiln.Runtime.Kernels.Signal;
using Kiln.Runtime.Kernels.Text;

namespace Kiln.Runtime.Kernels;

/// <summary>
/// The kernel families of the portable library, by the name modules use. Factories are created
/// explicitly, per loader: a method-group conversion would be cached in a hidden static field.
/// </summary>
internal static class KernelLibrary
{
    public static IEnumerable<(string Name, KernelFactory Factory)> Families()
    {
        yield return (ElementwiseKernel.KernelName, new KernelFactory(ElementwiseKernel.Load));
        yield return (MatMulKernel.KernelName, new KernelFactory(MatMulKernel.Load));
        yield return (ConvKernel.KernelName, new KernelFactory(ConvKernel.Load));
        yield return (ConvTransposeKernel.KernelName, new KernelFactory(ConvTransposeKernel.Load));
        yield return (DepthwiseConvKernel.KernelName, new KernelFactory(DepthwiseConvKernel.Load));
        yield return (PoolKernel.KernelName, new KernelFactory(PoolKernel.Load));
        yield return (GlobalPoolKernel.KernelName, new KernelFactory(GlobalPoolKernel.Load));
        yield return (NormalizeKernel.KernelName, new KernelFactory(NormalizeKernel.Load));
        yield return (LrnKernel.KernelName, new KernelFactory(LrnKernel.Load));
        yield return (ResizeNearestKernel.KernelName, new KernelFactory(ResizeNearestKernel.Load));
        yield return (ResizeFilterKernel.KernelName, new KernelFactory(ResizeFilterKernel.Load));
        yield return (GridSampleKernel.KernelName, new KernelFactory(GridSampleKernel.Load));
        yield return (AffineGridKernel.KernelName, new KernelFactory(AffineGridKernel.Load));
        yield return (MaxUnpoolKernel.KernelName, new KernelFactory(MaxUnpoolKernel.Load));
        yield return (RoiAlignKernel.KernelName, new KernelFactory(RoiAlignKernel.Load));
        yield return (Col2ImKernel.KernelName, new KernelFactory(Col2ImKernel.Load));
        yield return (ReduceKernel.KernelName, new KernelFactory(ReduceKernel.Load));
        yield return (ArgReduceKernel.KernelName, new KernelFactory(ArgReduceKernel.Load));
        yield return (SoftmaxKernel.KernelName, new KernelFactory(SoftmaxKernel.Load));
        yield return (ScanKernel.KernelName, new KernelFactory(ScanKernel.Load));
        yield return (TopKKernel.KernelName, new KernelFactory(TopKKernel.Load));
        yield return (UniqueKernel.KernelName, new KernelFactory(UniqueKernel.Load));
        yield return (NonZeroKernel.KernelName, new KernelFactory(NonZeroKernel.Load));
        yield return (TreeEnsembleKernel.KernelName, new KernelFactory(TreeEnsembleKernel.Load));
        yield return (DeformConvKernel.KernelName, new KernelFactory(DeformConvKernel.Load));
        yield return (NonMaxSuppressionKernel.KernelName, new KernelFactory(NonMaxSuppressionKernel.Load));
        yield return (GatherKernel.KernelName, new KernelFactory(GatherKernel.Load));
        yield return (GatherElementsKernel.KernelName, new KernelFactory(GatherElementsKernel.Load));
        yield return (GatherNDKernel.KernelName, new KernelFactory(GatherNDKernel.Load));
        yield return (ScatterElementsKernel.KernelName, new KernelFactory(ScatterElementsKernel.Load));
        yield return (ScatterNDKernel.KernelName, new KernelFactory(ScatterNDKernel.Load));
        yield return (TensorScatterKernel.KernelName, new KernelFactory(TensorScatterKernel.Load));
        yield return (OneHotKernel.KernelName, new KernelFactory(OneHotKernel.Load));
        yield return (TriluKernel.KernelName, new KernelFactory(TriluKernel.Load));
        yield return (RangeKernel.KernelName, new KernelFactory(RangeKernel.Load));
        yield return (PadKernel.KernelName, new KernelFactory(PadKernel.Load));
        yield return (NllLossKernel.KernelName, new KernelFactory(NllLossKernel.Load));
        yield return (BatchedMatMulKernel.KernelName, new KernelFactory(BatchedMatMulKernel.Load));
        yield return (DftKernel.KernelName, new KernelFactory(DftKernel.Load));
        yield return (StftKernel.KernelName, new KernelFactory(StftKernel.Load));
        yield return (WindowKernel.KernelName, new KernelFactory(WindowKernel.Load));
        yield return (MelWeightsKernel.KernelName, new KernelFactory(MelWeightsKernel.Load));
        yield return (DetKernel.KernelName, new KernelFactory(DetKernel.Load));
        yield return (ReverseSequenceKernel.KernelName, new KernelFactory(ReverseSequenceKernel.Load));
        yield return (TfIdfKernel.KernelName, new KernelFactory(TfIdfKernel.Load));
    }
}
