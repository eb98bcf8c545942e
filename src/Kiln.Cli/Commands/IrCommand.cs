using System.CommandLine;
using Kiln.Ir;
using Kiln.Onnx;

namespace Kiln.Cli;

/// <summary>`kiln ir MODEL`: import a model and print its IR in text form.</summary>
internal static class IrCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "An .onnx model or a .kir IR text file" };
        var output = new Option<string?>("--output", "-o") { Description = "Write the IR text to this file instead of the console" };
        var cmd = new Command("ir", "Print a model's graph IR (after import and shape inference)") { model, output };
        cmd.SetAction(CommandLine.Guard(parse =>
        {
            string path = parse.GetValue(model)!;
            var m = path.EndsWith(".kir", StringComparison.OrdinalIgnoreCase)
                ? IrParser.ParseModel(File.ReadAllText(path))
                : OnnxImporter.Load(path);
            string text = IrPrinter.Print(m);
            if (parse.GetValue(output) is { } o) File.WriteAllText(o, text);
            else Console.Write(text);
            return 0;
        }));
        return cmd;
    }
}
