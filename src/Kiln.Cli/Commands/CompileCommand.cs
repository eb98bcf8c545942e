using System.CommandLine;
using Kiln.Ir;

namespace Kiln.Cli;

/// <summary>`kiln compile MODEL.onnx -o MODEL.kiln [--shape NAME=DIMS ...] [--target portable|il] [--print-ir-after-all]`.</summary>
internal static class CompileCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "The .onnx model to compile" };
        var output = new Option<string>("--output", "-o") { Description = "The module file to write", Required = true };
        var shapes = new Option<string[]>("--shape") { Description = "Specialize to a fixed input shape, as NAME=1x3x640x640 (repeatable)" };
        var printAll = new Option<bool>("--print-ir-after-all") { Description = "Print the IR after every compiler stage" };
        var target = ModelRunner.TargetOption();
        var cmd = new Command("compile", "Compile an ONNX model into a .kiln module") { model, output, shapes, target, printAll };
        cmd.SetAction(CommandLine.Guard(parse =>
        {
            Action<string, string>? print = parse.GetValue(printAll)
                ? (stage, text) => Console.WriteLine($"// ----- IR after {stage} -----\n{text}")
                : null;
            var compiled = ModelRunner.Compile(parse.GetValue(model)!, ModelRunner.ParseShapes(parse.GetValue(shapes) ?? []), print,
                Kiln.Compiler.Targets.CompileTarget.Check(parse.GetValue(target)!));
            string path = parse.GetValue(output)!;
            try { File.WriteAllBytes(path, compiled.Bytes); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            { throw new KilnException(ErrorCode.Io, $"cannot write '{path}': {e.Message}"); }
            var plan = compiled.Plan;
            Console.WriteLine($"wrote {path}: {compiled.Bytes.Length} bytes, {plan.Steps.Count} steps, {plan.Kernels.Count} kernels, " +
                $"{plan.ConstantSegments.Count} constant segments, arena {plan.ArenaBytes} bytes");
            return 0;
        }));
        return cmd;
    }
}
