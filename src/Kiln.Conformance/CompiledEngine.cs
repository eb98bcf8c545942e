using Kiln.Compiler;
using Kiln.Compiler.Targets;
using Kiln.Ir;
using Kiln.Runtime;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Vm;

namespace Kiln.Conformance;

/// <summary>
/// Runs a model the way an application would: compile to module bytes, load them (verified),
/// create a context on a device, invoke "main", read the outputs. Names: compiled-sync and
/// compiled-task for the portable target, compiled-sync-il (and so on) for other targets; a target's
/// configuration also takes its device's skip lists, since every target passes the same suite.
/// </summary>
public sealed class CompiledEngine(string device, string target = CompileTarget.Portable) : IConformanceEngine
{
    public string Name => target == CompileTarget.Portable ? $"compiled-{device}" : $"compiled-{device}-{target}";

    public IReadOnlyList<DataValue> Run(Model model, IReadOnlyList<DataValue> inputs)
    {
        var compiled = KilnCompiler.Compile(model, new CompileOptions { Target = CompileTarget.Check(target) });
        return RunModule(compiled.Bytes, inputs);
    }

    /// <summary>Loads module bytes compiled before and runs its "main" on this engine's device.</summary>
    public IReadOnlyList<DataValue> RunModule(byte[] moduleBytes, IReadOnlyList<DataValue> inputs)
    {
        using var module = Module.Load(moduleBytes);
        using var dev = CreateDevice(device);
        using var context = new Instance().CreateContext(module, dev);
        var views = inputs.Select((v, i) => ToView(v, i)).ToArray();
        try
        {
            var outputs = context.GetFunction("main").Invoke(views);
            return outputs.Select(FromView).ToArray();
        }
        finally
        {
            foreach (var v in views) v.Dispose();
        }
    }

    public static Device CreateDevice(string name) => name switch
    {
        "sync" => new LocalSyncDevice(),
        "task" => new LocalTaskDevice(2),
        _ => throw new KilnException(ErrorCode.InvalidArgument, $"unknown device '{name}' (sync, task)"),
    };

    public static BufferView ToView(DataValue value, int index)
    {
        if (value is not TensorData t) throw new KilnException(ErrorCode.UnsupportedOperator, $"input {index} is {value.Type}: the compiled path takes tensors only");
        if (t.ElementType is ElementType.String) throw new KilnException(ErrorCode.UnsupportedOperator, $"input {index}: the compiled path does not take string tensors");
        return BufferView.FromBytes((DType)(byte)t.ElementType, t.AsBytes(), t.Shape);
    }

    public static TensorData FromView(BufferView v) =>
        TensorData.FromBytes((ElementType)(byte)v.DType, v.Shape.ToArray(), v.Bytes);
}
