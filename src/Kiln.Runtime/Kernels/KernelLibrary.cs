using Kiln.Runtime.Kernels.Elementwise;

namespace Kiln.Runtime.Kernels;

/// <summary>The kernel families of the portable library, by the name modules use.</summary>
internal static class KernelLibrary
{
    public static IEnumerable<(string Name, KernelFactory Factory)> Families()
    {
        yield return (ElementwiseKernel.KernelName, ElementwiseKernel.Load);
    }
}
