namespace Kiln.Benchmarks;

/// <summary>The cases of the quick (stopwatch) mode: the same work as the BenchmarkDotNet classes.</summary>
public static class QuickCases
{
    public static IEnumerable<QuickCase> All()
    {
        var peak = new PeakBenchmark();
        yield return new QuickCase("peak (12 FMA chains, 256-bit)", peak.Flops, peak.FmaPeak, () => { });
        yield return new QuickCase("peak (12 FMA chains, 512-bit)", peak.Flops512, peak.FmaPeak512, () => { });
        foreach (int size in new[] { 256, 512, 1024 })
        {
            var gemm = new GemmBenchmarks { Size = size };
            gemm.Setup();
            yield return new QuickCase($"gemm {size}", gemm.Flops, gemm.Gemm, () => { });
            yield return new QuickCase($"gemm {size} prepacked B", gemm.Flops, gemm.GemmPrepackedB, gemm.Dispose);
        }
        foreach (var layer in ConvBenchmarks.Layers())
        {
            var compiled = new CompiledLayer(layer);
            double fastest = double.MaxValue;
            string Dispatch() => $"   fastest dispatch {fastest * 1e3,8:F3} ms {layer.Flops / fastest / 1e9,7:F1} GFLOP/s";
            void Run()
            {
                compiled.Run();
                fastest = Math.Min(fastest, compiled.TakeDispatchSeconds(1));
            }
            yield return new QuickCase(layer.Name, layer.Flops, Run, compiled.Dispose, Dispatch);
        }
    }
}
