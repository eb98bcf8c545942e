using System.CommandLine;
using System.Diagnostics;
using Kiln.Compiler;
using Kiln.Conformance;
using Kiln.Ir;
using Kiln.Runtime;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Vm;

namespace Kiln.Cli;

/// <summary>
/// `kiln bench MODEL [--device sync|task] [--threads N] [--iterations N] [--input NAME=@f.npy ...] [--shape NAME=DIMS ...]`.
/// Times a model the way an application runs it: the module is memory-mapped from a file (an
/// .onnx model is compiled to a temporary one first). Reports, in a warm process, the start-up
/// cost (module load + context creation + first inference, minus one steady-state inference) and
/// the steady-state latency after warm-up; ends with the line
/// <c>median_ms=… min_ms=… max_ms=… iterations=…</c>. Inputs not given default to the
/// deterministic generator of the ONNX Runtime harness in ../shared/bench/ort (seed 42, floats in
/// [-1, 1), integers in [0, 10)), so both see the same data.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "A .kiln module or an .onnx model" };
        var device = new Option<string>("--device") { Description = "sync or task", DefaultValueFactory = _ => "sync" };
        var threads = new Option<int>("--threads") { Description = "Threads of the task device (the caller included)", DefaultValueFactory = _ => 1 };
        var iterations = new Option<int>("--iterations") { Description = "Timed runs", DefaultValueFactory = _ => 50 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed runs before timing", DefaultValueFactory = _ => 10 };
        var inputs = new Option<string[]>("--input", "-i") { Description = "An input, as NAME=@file.npy" };
        var shapes = new Option<string[]>("--shape") { Description = "Compile an .onnx model for fixed input shapes, as NAME=1x3x640x640" };
        var target = ModelRunner.TargetOption();
        var profile = new Option<bool>("--profile") { Description = "Afterwards, time each dispatch on the sync device and list the costliest" };
        var cmd = new Command("bench", "Time a model: start-up cost and steady-state latency") { model, device, threads, iterations, warmup, inputs, shapes, target, profile };
        cmd.SetAction(CommandLine.Guard(parse => Run(parse.GetValue(model)!, parse.GetValue(device)!, parse.GetValue(threads),
            parse.GetValue(iterations), parse.GetValue(warmup), ModelRunner.ReadInputs(parse.GetValue(inputs) ?? []),
            ModelRunner.ParseShapes(parse.GetValue(shapes) ?? []), parse.GetValue(target)!, parse.GetValue(profile))));
        return cmd;
    }

    private static int Run(string path, string deviceName, int threads, int iterations, int warmup,
        Dictionary<string, TensorData> given, Dictionary<string, long[]> shapes, string target, bool profile)
    {
        IReadOnlyList<string> origins = [];
        if (iterations < 1) throw new KilnException(ErrorCode.InvalidArgument, "--iterations must be at least 1");
        string modulePath = path;
        string? temporary = null;
        if (!path.EndsWith(".kiln", StringComparison.OrdinalIgnoreCase))
        {
            var sw = Stopwatch.StartNew();
            var compiled = KilnCompiler.Compile(ModelRunner.Import(path, shapes), new CompileOptions { Target = target });
            origins = Kiln.Compiler.Lowering.Step.Flatten(compiled.Plan.Steps).OfType<Kiln.Compiler.Lowering.DispatchStep>()
                .Select(d => $"{d.Kernel.Family} {d.Origin}").ToArray();
            temporary = modulePath = Path.Combine(Path.GetTempPath(), $"kiln-bench-{Environment.ProcessId}.kiln");
            File.WriteAllBytes(modulePath, compiled.Bytes);
            Console.WriteLine($"compiled {path} in {sw.ElapsedMilliseconds} ms: {compiled.Bytes.Length} bytes, {compiled.Plan.Steps.Count} steps, " +
                $"{compiled.Plan.Kernels.Count} kernels, arena {compiled.Plan.ArenaBytes} bytes");
        }
        try
        {
            Device MakeDevice() => deviceName switch
            {
                "sync" => new LocalSyncDevice(),
                "task" => new LocalTaskDevice(threads),
                _ => throw new KilnException(ErrorCode.InvalidArgument, $"unknown device '{deviceName}' (sync, task)"),
            };
            var instance = new Instance();
            BufferView[] views;
            // Warm the process (the runtime's own code), as an application that already ran a model would be.
            {
                using var m = Module.Load(modulePath);
                using var d = MakeDevice();
                using var c = instance.CreateContext(m, d);
                var f = c.GetFunction("main");
                views = MakeInputs(f, given);
                Run(f, views);
            }

            using var device = MakeDevice();
            var start = Stopwatch.StartNew();
            using var module = Module.Load(modulePath);
            double loadMs = start.Elapsed.TotalMilliseconds;
            using var context = instance.CreateContext(module, device);
            var main = context.GetFunction("main");
            double contextMs = start.Elapsed.TotalMilliseconds - loadMs;
            Run(main, views);
            double firstMs = start.Elapsed.TotalMilliseconds - loadMs - contextMs;

            for (int i = 0; i < warmup; i++) Run(main, views);
            var times = new double[iterations];
            for (int i = 0; i < iterations; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                Run(main, views);
                times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
            Array.Sort(times);
            double median = iterations % 2 == 1 ? times[iterations / 2] : (times[iterations / 2 - 1] + times[iterations / 2]) / 2;
            double startup = loadMs + contextMs + firstMs - median;
            Console.WriteLine($"device {device.Name}, {(deviceName == "task" ? threads : 1)} thread(s)");
            Console.WriteLine($"memory_bytes={context.ArenaBytes + module.ConstantBytes} (arena {context.ArenaBytes} + constants {module.ConstantBytes})");
            Console.WriteLine($"startup_ms={startup:F3} (load {loadMs:F3} ms + context {contextMs:F3} ms + first run {firstMs:F3} ms - median)");
            Console.WriteLine($"median_ms={median:F4} min_ms={times[0]:F4} max_ms={times[^1]:F4} iterations={iterations}");
            if (profile) Profile(instance, module, main, views, iterations, origins);
            foreach (var v in views) v.Dispose();
            return 0;
        }
        finally
        {
            if (temporary is not null) File.Delete(temporary);
        }
    }

    /// <summary>One inference as an application runs it: the outputs are used, then disposed (so their memory is reused).</summary>
    private static void Run(Function f, BufferView[] inputs)
    {
        foreach (var output in f.Invoke(inputs)) output.Dispose();
    }

    /// <summary>Runs the model <paramref name="iterations"/> more times on a sync device with a dispatch profile, and prints the costliest dispatches and kernel families.</summary>
    private static void Profile(Instance instance, Module module, Function timed, BufferView[] views, int iterations, IReadOnlyList<string> origins)
    {
        var profile = new DispatchProfile();
        using var device = new LocalSyncDevice();
        using var context = instance.CreateContext(module, device, new ContextOptions { Profile = profile });
        var main = context.GetFunction("main");
        var first = Stopwatch.StartNew();
        Run(main, views);
        double firstRun = first.Elapsed.TotalMilliseconds;
        var firstEntries = profile.Entries.ToDictionary(e => e.Sequence);
        profile.Clear();
        for (int i = 0; i < iterations; i++) Run(main, views);
        var entries = profile.Entries;
        double total = entries.Sum(e => e.Total.TotalMilliseconds) / iterations;
        // Where the first run's extra time goes (start-up): dispatches slower the first time.
        double firstDispatches = firstEntries.Values.Sum(e => e.Total.TotalMilliseconds);
        Console.WriteLine($"first run (sync device): {firstRun:F3} ms, {firstDispatches:F3} ms in dispatches (steady state {total:F3} ms)");
        foreach (var e in entries.Select(e => (Entry: e, Extra: firstEntries.TryGetValue(e.Sequence, out var f) ? f.Total.TotalMilliseconds - e.Total.TotalMilliseconds / iterations : 0))
            .OrderByDescending(x => x.Extra).Take(8))
        {
            string where = e.Entry.Sequence < origins.Count ? origins[e.Entry.Sequence] : e.Entry.Kernel;
            Console.WriteLine($"  #{e.Entry.Sequence,-4} +{e.Extra,8:F3} ms on the first run  {where}");
        }
        Console.WriteLine($"profile (sync device, {iterations} runs): {entries.Count} dispatches, {total:F3} ms per run in dispatches");
        foreach (var e in entries.OrderByDescending(e => e.Total).Take(25))
        {
            double ms = e.Total.TotalMilliseconds / iterations;
            string where = e.Sequence < origins.Count ? origins[e.Sequence] : e.Kernel;
            Console.WriteLine($"  #{e.Sequence,-4} {ms,9:F4} ms {100 * ms / total,5:F1}%  {where}");
        }
        Console.WriteLine("by kernel family:");
        foreach (var g in entries.GroupBy(e => e.Kernel).OrderByDescending(g => g.Sum(e => e.Total.TotalMilliseconds)))
        {
            double ms = g.Sum(e => e.Total.TotalMilliseconds) / iterations;
            Console.WriteLine($"  {g.Key,-20} {ms,9:F4} ms {100 * ms / total,5:F1}%  ({g.Count()} dispatches)");
        }
    }

    /// <summary>Given inputs, or generated ones: the ORT harness's LCG (s = 1664525·s + 1013904223 mod 2^32 from 42), in input order.</summary>
    private static BufferView[] MakeInputs(Function main, Dictionary<string, TensorData> given)
    {
        uint s = 42;
        var views = new BufferView[main.Inputs.Count];
        for (int k = 0; k < views.Length; k++)
        {
            var p = main.Inputs[k];
            if (given.TryGetValue(p.Name, out var t)) { views[k] = CompiledEngine.ToView(t, k); continue; }
            if (p.Dims.Any(d => d is null))
                throw new KilnException(ErrorCode.InvalidArgument, $"input '{p.Name}' has symbolic sizes ({p}): give it with --input, or compile with --shape");
            var shape = p.Dims.Select(d => d!.Value).ToArray();
            var data = TensorData.Zeros((ElementType)(byte)p.DType, shape);
            for (long i = 0; i < data.ElementCount; i++)
            {
                s = 1664525 * s + 1013904223;
                if (data.ElementType.IsFloat()) Kiln.Ops.Conversions.SetFloat(data, i, -1 + 2 * ((s >> 8) / 16777216.0));
                else if (data.ElementType == ElementType.Bool) data.Data<bool>()[i] = (s >> 31) != 0;
                else Kiln.Ops.Conversions.SetInteger(data, i, s % 10);
            }
            views[k] = CompiledEngine.ToView(data, k);
        }
        return views;
    }
}
