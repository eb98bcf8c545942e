using Kiln.Runtime.Kernels.Elementwise;
using Kiln.Runtime.Kernels.Normalization;
using Kiln.Runtime.Kernels.Pooling;
using Kiln.Runtime.Kernels.Resize;

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
        yield return (PoolKernel.KernelName, new KernelFactory(PoolKernel.Load));
        yield return (GlobalPoolKernel.KernelName, new KernelFactory(GlobalPoolKernel.Load));
        yield return (NormalizeKernel.KernelName, new KernelFactory(NormalizeKernel.Load));
        yield return (LrnKernel.KernelName, new KernelFactory(LrnKernel.Load));
        yield return (ResizeNearestKernel.KernelName, new KernelFactory(ResizeNearestKernel.Load));
        yield return (ResizeFilterKernel.KernelName, new KernelFactory(ResizeFilterKernel.Load));
    }
}
