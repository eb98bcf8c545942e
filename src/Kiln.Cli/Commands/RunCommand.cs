using System.CommandLine;
using Kiln.Ir;
using Kiln.Onnx;
using Kiln.Ops;

namespace Kiln.Cli;

/// <summary>`kiln run MODEL --input NAME=@file.npy ... [--output-dir DIR]`: run a model, print and save its outputs.</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "The model to run (.onnx)" };
        var inputs = new Option<string[]>("--input", "-i") { Description = "An input, as NAME=@file.npy (repeat for each input)", AllowMultipleArgumentsPerToken = false };
        var outputDir = new Option<string?>("--output-dir", "-o") { Description = "Write each output to DIR/NAME.npy" };
        var cmd = new Command("run", "Run a model on .npy inputs; print a summary of each output and optionally save them") { model, inputs, outputDir };
        cmd.SetAction(CommandLine.Guard(parse =>
        {
            string path = parse.GetValue(model)!;
            var given = new Dictionary<string, DataValue>(StringComparer.Ordinal);
            foreach (var spec in parse.GetValue(inputs) ?? [])
            {
                var (name, file) = CommandLine.ParseInputSpec(spec);
                if (!given.TryAdd(name, Npy.Read(file)))
                    throw new KilnException(ErrorCode.InvalidArgument, $"input '{name}' is given twice");
            }
            var m = OnnxImporter.Load(path);
            var outputs = new ReferenceEvaluator().Run(m.Graph, given);
            string? dir = parse.GetValue(outputDir);
            if (dir is not null) Directory.CreateDirectory(dir);
            foreach (var (name, value) in outputs)
            {
                Console.WriteLine($"{name}: {CommandLine.Describe(value)}");
                if (dir is null) continue;
                if (value is not TensorData t) throw new KilnException(ErrorCode.Unsupported, $"output '{name}' is not a tensor and cannot be saved as .npy");
                Npy.Write(Path.Combine(dir, Npy.FileNameFor(name)), t);
            }
            return 0;
        }));
        return cmd;
    }
}
