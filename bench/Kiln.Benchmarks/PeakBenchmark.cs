using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BenchmarkDotNet.Attributes;

namespace Kiln.Benchmarks;

/// <summary>
/// The machine's fp32 FMA peak on one core, measured the same way as the kernels (12 independent
/// FMA chains of 256-bit and of 512-bit vectors), so kernel figures can be read as a share of it.
/// The two differ by 2x on cores with a full 512-bit datapath (Zen 5) and match on Zen 4; the
/// machine's peak is the larger.
/// </summary>
[Config(typeof(FlopsConfig))]
public class PeakBenchmark : IHasFlops
{
    private const int Steps = 1 << 16;
    public double Flops => 2.0 * 8 * 12 * Steps;
    private Vector256<float> _sink;

    private Vector512<float> _sink512;

    [Benchmark]
    public void FmaPeak() => _sink = Run(Steps);

    /// <summary>Flops of <see cref="FmaPeak512"/>: twice <see cref="Flops"/> (16 lanes).</summary>
    public double Flops512 => 2 * Flops;

    [Benchmark]
    public void FmaPeak512() => _sink512 = Run512(Steps);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Vector512<float> Run512(int steps)
    {
        var x = Vector512.Create(1.0000001f);
        var y = Vector512.Create(0.9999999f);
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        Vector512<float> c6 = default, c7 = default, c8 = default, c9 = default, c10 = default, c11 = default;
        if (!Avx512F.IsSupported) return default;
        for (int i = 0; i < steps; i++)
        {
            c0 = Avx512F.FusedMultiplyAdd(x, y, c0); c1 = Avx512F.FusedMultiplyAdd(x, y, c1); c2 = Avx512F.FusedMultiplyAdd(x, y, c2);
            c3 = Avx512F.FusedMultiplyAdd(x, y, c3); c4 = Avx512F.FusedMultiplyAdd(x, y, c4); c5 = Avx512F.FusedMultiplyAdd(x, y, c5);
            c6 = Avx512F.FusedMultiplyAdd(x, y, c6); c7 = Avx512F.FusedMultiplyAdd(x, y, c7); c8 = Avx512F.FusedMultiplyAdd(x, y, c8);
            c9 = Avx512F.FusedMultiplyAdd(x, y, c9); c10 = Avx512F.FusedMultiplyAdd(x, y, c10); c11 = Avx512F.FusedMultiplyAdd(x, y, c11);
        }
        return c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11;
    }

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
