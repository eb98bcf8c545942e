using BenchmarkDotNet.Attributes;
using Kiln.Compiler.ModuleWriter;
using Kiln.Runtime;
using Module = Kiln.Runtime.Module;

namespace Kiln.Benchmarks;

/// <summary>
/// Loading a module with 128 MiB of constants from a file: <see cref="Module.Load(string)"/> maps it
/// read-only, verifies every table and the bytecode, and wraps the constant segments in place (no
/// copy), so time and allocation do not grow with the weights. Also: context creation on top.
/// Run: <c>dotnet run -c Release --project bench/Kiln.Benchmarks -- --filter '*ModuleLoad*'</c>.
/// </summary>
[MemoryDiagnoser]
public class ModuleLoadBenchmark
{
    private string _path = "";

    [GlobalSetup]
    public void Setup()
    {
        _path = Path.Combine(Path.GetTempPath(), $"kiln-bench-load-{Environment.ProcessId}.kiln");
        var mb = new ModuleBuilder();
        var rng = new Random(1);
        for (int s = 0; s < 128; s++)
        {
            var data = new byte[1 << 20];
            rng.NextBytes(data);
            mb.AddSegment(data);
        }
        var c = mb.NewCode();
        c.Return([], []);
        mb.Export("main", mb.AddFunction("main", c, 0, 0, 0, 0));
        File.WriteAllBytes(_path, mb.ToArray());
    }

    [GlobalCleanup]
    public void Cleanup() => File.Delete(_path);

    [Benchmark]
    public long LoadMapped()
    {
        using var module = Module.Load(_path);
        return module.ConstantBytes;
    }
}
