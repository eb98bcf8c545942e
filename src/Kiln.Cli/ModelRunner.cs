using System.CommandLine;
using Kiln.Compiler;
using Kiln.Compiler.Targets;
using Kiln.Conformance;
using Kiln.Ir;
using Kiln.Onnx;
using Kiln.Ops;
using Kiln.Runtime;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Vm;

namespace Kiln.Cli;

/// <summary>What the run, compile and bench commands share: reading inputs, compiling, running a module.</summary>
internal static class ModelRunner
{
    public static Dictionary<string, TensorData> ReadInputs(IEnumerable<string> specs)
    {
        var given = new Dictionary<string, TensorData>(StringComparer.Ordinal);
        foreach (var spec in specs)
        {
            var (name, file) = CommandLine.ParseInputSpec(spec);
            if (!given.TryAdd(name, Npy.Read(file)))
                throw new KilnException(ErrorCode.InvalidArgument, $"input '{name}' is given twice");
        }
        return given;
    }

    public static Dictionary<string, long[]> ParseShapes(IEnumerable<string> specs) =>
        specs.Select(CommandLine.ParseShapeSpec).ToDictionary(s => s.Name, s => s.Dims, StringComparer.Ordinal);

    public static Model Import(string path, IReadOnlyDictionary<string, long[]>? shapes) =>
        OnnxImporter.Load(path, new ImportOptions { InputShapes = shapes is { Count: > 0 } ? shapes : null });

    public static CompiledModule Compile(string path, IReadOnlyDictionary<string, long[]>? shapes, Action<string, string>? print = null, string target = CompileTarget.Portable) =>
        KilnCompiler.Compile(Import(path, shapes), new CompileOptions { PrintAfterStage = print, Target = target });

    /// <summary>The --target option of the commands that compile.</summary>
    public static Option<string> TargetOption() => new("--target")
    {
        // IL by default: the faster code wherever the runtime can generate code, and the runtime
        // interprets the same kernels where it cannot (NativeAOT).
        Description = $"How elementwise kernels are compiled: {string.Join(" or ", CompileTarget.Names)} (il: JIT-compiled at load; the default)",
        DefaultValueFactory = _ => CompileTarget.Il,
    };

    /// <summary>Runs "main" of a module on named inputs; returns the outputs by name, in order.</summary>
    public static List<(string Name, TensorData Value)> RunModule(Module module, string device, IReadOnlyDictionary<string, TensorData> inputs)
    {
        using var dev = CompiledEngine.CreateDevice(device);
        using var context = new Instance().CreateContext(module, dev);
        var main = context.GetFunction("main");
        foreach (var name in inputs.Keys)
            if (!main.Inputs.Any(p => p.Name == name))
                throw new KilnException(ErrorCode.InvalidArgument, $"the model has no input named '{name}' (inputs: {string.Join(", ", main.Inputs.Select(p => p.Name))})");
        var views = main.Inputs.Select((p, i) => CompiledEngine.ToView(inputs.TryGetValue(p.Name, out var t) ? t
            : throw new KilnException(ErrorCode.InvalidArgument, $"input '{p.Name}' is not given"), i)).ToArray();
        try
        {
            var outputs = main.Invoke(views);
            return outputs.Select((o, i) => (main.Outputs[i].Name, CompiledEngine.FromView(o))).ToList();
        }
        finally { foreach (var v in views) v.Dispose(); }
    }

    public static List<(string Name, TensorData Value)> RunReference(string path, IReadOnlyDictionary<string, TensorData> inputs)
    {
        var model = OnnxImporter.Load(path);
        var outputs = new ReferenceEvaluator().Run(model.Graph, inputs.ToDictionary(kv => kv.Key, kv => (DataValue)kv.Value));
        return outputs.Select(kv => (kv.Key, kv.Value as TensorData
            ?? throw new KilnException(ErrorCode.Unsupported, $"output '{kv.Key}' is {kv.Value.Type}, not a tensor"))).ToList();
    }
}
