using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Kiln.Runtime.Kernels.Gemm;

namespace Kiln.Benchmarks;

/// <summary>
/// The fp32 GEMM (C = A·B, square, one thread) straight through <see cref="GemmDriver"/>: both
/// operands packed as it runs, and B packed ahead (as compile-time packed weights are).
/// </summary>
[Config(typeof(FlopsConfig))]
public unsafe class GemmBenchmarks : IHasFlops, IDisposable
{
    [Params(256, 512, 1024)]
    public int Size { get; set; }

    public double Flops => 2.0 * Size * Size * Size;

    private float* _a, _b, _packedB, _c, _scratch;
    private readonly Epilogue _none = new([]);

    [GlobalSetup]
    public void Setup()
    {
        long n = Size;
        _a = Allocate(n * n);
        _b = Allocate(n * n);
        _c = Allocate(n * n);
        _packedB = Allocate(PanelLayout.PackedLength(n, n, PanelLayout.Columns));
        _scratch = Allocate(GemmDriver.ScratchFloats(true, true));
        var r = new Random(1);
        for (long i = 0; i < n * n; i++) { _a[i] = (float)r.NextDouble(); _b[i] = (float)r.NextDouble(); }
        PanelLayout.PackColumns(_b, n, 1, Size, Size, _packedB);
    }

    [Benchmark]
    public void Gemm() =>
        GemmDriver.Run(new StridedRows(_a, Size, 1), new StridedColumns(_b, Size, 1), 0, Size, 0, Size, Size, _c, Size, None, _scratch);

    [Benchmark]
    public void GemmPrepackedB() =>
        GemmDriver.Run(new StridedRows(_a, Size, 1), new PrepackedPanels(_packedB, Size, PanelLayout.Columns), 0, Size, 0, Size, Size, _c, Size, None, _scratch);

    private EpilogueTarget None => new(_none, default, 0, 0, 0, 0);

    private static float* Allocate(long floats) => (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);

    [GlobalCleanup]
    public void Dispose()
    {
        foreach (var p in new[] { _a, _b, _c, _packedB, _scratch }) NativeMemory.AlignedFree(p);
        _a = _b = _c = _packedB = _scratch = null;
        GC.SuppressFinalize(this);
    }
}
