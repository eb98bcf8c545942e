using System.CommandLine;
using Kiln.Ir;
using Kiln.Runtime;

namespace Kiln.Cli;

/// <summary>
/// `kiln run MODEL --input NAME=@file.npy ... [--device sync|task] [--engine compiled|reference] [--target portable|il] [--output-dir DIR]`:
/// run a .kiln module, or an .onnx model (compiled in memory, or evaluated by the reference evaluator);
/// print a summary of each output and optionally save each as DIR/NAME.npy.
/// </summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "The model to run: a .kiln module or an .onnx model" };
        var inputs = new Option<string[]>("--input", "-i") { Description = "An input, as NAME=@file.npy (repeat for each input)" };
        var outputDir = new Option<string?>("--output-dir", "-o") { Description = "Write each output to DIR/NAME.npy" };
        var device = new Option<string>("--device") { Description = "sync (inline on this thread) or task (worker pool)", DefaultValueFactory = _ => "sync" };
        var engine = new Option<string>("--engine") { Description = "compiled (default) or reference (for .onnx)", DefaultValueFactory = _ => "compiled" };
        var shapes = new Option<string[]>("--shape") { Description = "Compile an .onnx model for fixed input shapes, as NAME=1x3x224x224" };
        var target = ModelRunner.TargetOption();
        var cmd = new Command("run", "Run a model on .npy inputs; print a summary of each output and optionally save them") { model, inputs, outputDir, device, engine, shapes, target };
        cmd.SetAction(CommandLine.Guard(parse =>
        {
            string path = parse.GetValue(model)!;
            var given = ModelRunner.ReadInputs(parse.GetValue(inputs) ?? []);
            string dev = parse.GetValue(device)!;
            List<(string Name, TensorData Value)> outputs;
            if (path.EndsWith(".kiln", StringComparison.OrdinalIgnoreCase))
            {
                using var module = Module.Load(path);
                outputs = ModelRunner.RunModule(module, dev, given);
            }
            else if (parse.GetValue(engine) == "reference")
                outputs = ModelRunner.RunReference(path, given);
            else if (parse.GetValue(engine) == "compiled")
            {
                var compiled = ModelRunner.Compile(path, ModelRunner.ParseShapes(parse.GetValue(shapes) ?? []),
                    target: Kiln.Compiler.Targets.CompileTarget.Check(parse.GetValue(target)!));
                using var module = Module.Load(compiled.Bytes);
                outputs = ModelRunner.RunModule(module, dev, given);
            }
            else throw new KilnException(ErrorCode.InvalidArgument, $"unknown engine '{parse.GetValue(engine)}' (compiled, reference)");

            string? dir = parse.GetValue(outputDir);
            if (dir is not null) Directory.CreateDirectory(dir);
            foreach (var (name, value) in outputs)
            {
                Console.WriteLine($"{name}: {CommandLine.Describe(value)}");
                if (dir is not null) Npy.Write(Path.Combine(dir, Npy.FileNameFor(name)), value);
            }
            return 0;
        }));
        return cmd;
    }
}
