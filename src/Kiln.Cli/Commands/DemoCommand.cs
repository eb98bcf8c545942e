using System.CommandLine;
using System.Diagnostics;
using Kiln.Compiler;
using Kiln.Ir;
using Kiln.Onnx;
using Kiln.Ops;
using Kiln.Runtime;

namespace Kiln.Cli;

/// <summary>
/// `kiln demo [--dir DIR]`: Kiln's main job on the model that ships with the repository. Writes the
/// example model and its input (if missing), compiles it to a .kiln module, loads the module and
/// runs it on both devices, and checks the outputs against the reference evaluator.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var dir = new Option<string>("--dir") { Description = "Where the example lives", DefaultValueFactory = _ => Path.Combine("examples", "tiny-cnn") };
        var cmd = new Command("demo", "Compile and run the example model on both devices, checked against the reference evaluator") { dir };
        cmd.SetAction(CommandLine.Guard(parse => Run(parse.GetValue(dir)!)));
        return cmd;
    }

    public static int Run(string dir)
    {
        Directory.CreateDirectory(dir);
        string modelPath = Path.Combine(dir, "model.onnx"), inputPath = Path.Combine(dir, ExampleModel.InputName + ".npy");
        if (!File.Exists(modelPath)) File.WriteAllBytes(modelPath, ExampleModel.Build());
        if (!File.Exists(inputPath)) Npy.Write(inputPath, ExampleModel.Input());
        Console.WriteLine($"model:   {modelPath}");

        var sw = Stopwatch.StartNew();
        var compiled = KilnCompiler.Compile(OnnxImporter.Load(modelPath));
        string modulePath = Path.Combine(dir, "model.kiln");
        File.WriteAllBytes(modulePath, compiled.Bytes);
        Console.WriteLine($"compile: {modulePath} ({compiled.Bytes.Length} bytes, {Kiln.Compiler.Lowering.Step.Flatten(compiled.Plan.Steps).OfType<Kiln.Compiler.Lowering.DispatchStep>().Count()} dispatches, arena {compiled.Plan.ArenaBytes} bytes) in {sw.ElapsedMilliseconds} ms");

        var inputs = new Dictionary<string, TensorData> { [ExampleModel.InputName] = Npy.Read(inputPath) };
        var reference = ModelRunner.RunReference(modelPath, inputs)[0].Value;
        using var module = Module.Load(modulePath);
        foreach (var device in new[] { "sync", "task" })
        {
            sw.Restart();
            var output = ModelRunner.RunModule(module, device, inputs)[0].Value;
            double ms = sw.Elapsed.TotalMilliseconds;
            double maxError = 0;
            for (long i = 0; i < output.ElementCount; i++) maxError = Math.Max(maxError, Math.Abs(output.GetDouble(i) - reference.GetDouble(i)));
            Console.WriteLine($"run ({device}): {CommandLine.Describe(output)}  max |kiln - reference| = {maxError:G3}  ({ms:F1} ms incl. context creation)");
            if (maxError > 1e-5) throw new KilnException(ErrorCode.EvaluationFailed, $"the {device} device's output differs from the reference evaluator by {maxError:G3}");
        }
        int best = 0;
        for (int i = 1; i < reference.ElementCount; i++) if (reference.GetDouble(i) > reference.GetDouble(best)) best = i;
        Console.WriteLine($"class {best} (p = {reference.GetDouble(best):F4}); compiled outputs match the reference evaluator");
        return 0;
    }
}
