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
        var values = inputs.Select((v, i) => ToValue(v, i)).ToArray();
        try
        {
            var main = context.GetFunction("main");
            var outputs = main.InvokeValues(values);
            return outputs.Select((o, i) => FromValue(o, main.Outputs.Count > i ? main.Outputs[i] : null)).ToArray();
        }
        finally
        {
            foreach (var v in values) Dispose(v);
        }
    }

    /// <summary>A test input as the runtime takes it: a tensor, a string tensor, a sequence of tensors, or null for an empty optional.</summary>
    public static object? ToValue(DataValue value, int index) => value switch
    {
        TensorData { ElementType: ElementType.String } t => new StringTensor(t.Data<string>(), t.Shape.ToArray()),
        TensorData t => ToView(t, index),
        SequenceData s => new TensorSequence(ElementDType(s.ElementType, index), s.Items.Select(x => ToView(x, index))),
        OptionalData { Value: null } => null,
        OptionalData o => ToValue(o.Value!, index),
        _ => throw new KilnException(ErrorCode.UnsupportedOperator, $"input {index} is {value.Type}: not supported by the compiled path"),
    };

    private static DType ElementDType(IrType type, int index) => type is TensorType t ? (DType)(byte)t.ElementType
        : throw new KilnException(ErrorCode.UnsupportedOperator, $"input {index}: sequences of {type} are not supported by the compiled path");

    /// <summary>An output as test data: optionals (by the function's signature) become optional values.</summary>
    public static DataValue FromValue(object? value, TensorParameter? p)
    {
        var elementType = p is null ? null : (IrType)new TensorType((ElementType)(byte)p.DType, Shape.Unranked);
        DataValue? inner = value switch
        {
            null => null,
            BufferView v => FromView(v),
            StringTensor s => TensorData.Create(ElementType.String, s.Shape.ToArray(), s.ToArray()),
            TensorSequence s => new SequenceData(new TensorType((ElementType)(byte)s.ElementType, Shape.Unranked), s.Items.Select(FromView).ToArray()),
            _ => throw new KilnException(ErrorCode.InvalidData, $"unexpected output {value.GetType().Name}"),
        };
        if (p is not { IsOptional: true }) return inner ?? throw new KilnException(ErrorCode.InvalidData, "a tensor or sequence output is none");
        var declared = p.IsSequence ? new SequenceType(elementType!) : elementType!;
        return new OptionalData(declared, inner);
    }

    private static void Dispose(object? value)
    {
        if (value is BufferView v) v.Dispose();
        else if (value is TensorSequence s) foreach (var t in s.Items) t.Dispose();
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
