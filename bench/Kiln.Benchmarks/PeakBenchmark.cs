using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BenchmarkDotNet.Attributes;

namespace Kiln.Benchmarks;

/// <summary>
/// The machine's fp32 FMA peak on one core, measured the same way as the kernels (12 independent
/// 256-bit FMA chains, the microkernel's shape), so kernel figures can be read as a share of it.
/// </summary>
[Config(typeof(FlopsConfig))]
public class PeakBenchmark : IHasFlops
{
    private const int Steps = 1 << 16;
    public double Flops => 2.0 * 8 * 12 * Steps;
    private Vector256<float> _sink;

    [Benchmark]
    public void FmaPeak() => _sink = Run(Steps);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Vector256<float> Run(int steps)
    {
        var x = Vector256.Create(1.0000001f);
        var y = Vector256.Create(0.9999999f);
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        Vector256<float> c6 = default, c7 = default, c8 = default, c9 = default, c10 = default, c11 = default;
        if (!Fma.IsSupported) return default;
        for (int i = 0; i < steps; i++)
        {
            c0 = Fma.MultiplyAdd(x, y, c0); c1 = Fma.MultiplyAdd(x, y, c1); c2 = Fma.MultiplyAdd(x, y, c2);
            c3 = Fma.MultiplyAdd(x, y, c3); c4 = Fma.MultiplyAdd(x, y, c4); c5 = Fma.MultiplyAdd(x, y, c5);
            c6 = Fma.MultiplyAdd(x, y, c6); c7 = Fma.MultiplyAdd(x, y, c7); c8 = Fma.MultiplyAdd(x, y, c8);
            c9 = Fma.MultiplyAdd(x, y, c9); c10 = Fma.MultiplyAdd(x, y, c10); c11 = Fma.MultiplyAdd(x, y, c11);
        }
        return c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11;
    }
}
