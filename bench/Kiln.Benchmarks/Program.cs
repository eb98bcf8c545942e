using System.Diagnostics;
using BenchmarkDotNet.Running;

namespace Kiln.Benchmarks;

/// <summary>
/// Entry point. <c>dotnet run -c Release -- --filter '*Gemm*'</c> runs BenchmarkDotNet;
/// <c>dotnet run -c Release -- --quick [filter]</c> runs every case a few times with a stopwatch
/// (for quick tuning on a busy machine) and prints GFLOP/s.
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "--quick")
        {
            Quick(args.Length > 1 ? args[1] : "");
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }

    private static void Quick(string filter)
    {
        foreach (var bench in QuickCases.All())
        {
            if (!bench.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)) continue;
            bench.Run(); // warm up (and compile fully)
            double best = double.MaxValue;
            for (int round = 0; round < 5; round++)
            {
                int reps = 0;
                var sw = Stopwatch.StartNew();
                do { bench.Run(); reps++; } while (sw.ElapsedMilliseconds < 300);
                best = Math.Min(best, sw.Elapsed.TotalSeconds / reps);
            }
            Console.WriteLine($"{bench.Name,-48} {best * 1e3,9:F3} ms  {bench.Flops / best / 1e9,7:F1} GFLOP/s{bench.Detail?.Invoke() ?? ""}");
            bench.Dispose();
        }
    }
}

/// <summary>One timed case of the quick mode: a name, its floating-point operations, and the work.</summary>
public sealed record QuickCase(string Name, double Flops, Action Run, Action Dispose, Func<string>? Detail = null);
