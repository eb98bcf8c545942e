using Kiln.Compiler;
using Kiln.Conformance;
using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime;
using Kiln.Runtime.Vm;
using Module = Kiln.Runtime.Module;

namespace Kiln.Tests.Kernels;

/// <summary>
/// A small graph around the operators under test, run by the reference evaluator (the oracle) and
/// by the compiled module on both devices; every output must match. Operands are graph inputs
/// (values known only at run time) or constants (known to the compiler), so both lowerings of an
/// operator get exercised.
/// </summary>
public sealed class KernelOracle
{
    private readonly Graph _graph = new("test");
    private readonly List<TensorData> _inputs = [];

    public Value Input(TensorData value)
    {
        _inputs.Add(value);
        return _graph.AddInput($"x{_inputs.Count}", value.Type);
    }

    /// <summary>A graph input declared with some symbolic sizes (named by <paramref name="symbols"/>, null keeps the size static).</summary>
    public Value Input(TensorData value, params string?[] symbols)
    {
        _inputs.Add(value);
        var dims = value.Shape.Select((d, i) => symbols[i] is { } name ? Dim.Symbol(name) : (Dim)d).ToArray();
        return _graph.AddInput($"x{_inputs.Count}", new TensorType(value.ElementType, new Shape(dims)));
    }

    public Value Constant(TensorData value) =>
        _graph.Add("Constant", [], new Dictionary<string, AttributeValue> { ["value"] = AttributeValue.Tensor(value) }, _graph.UniqueName("c"), value.Type);

    public Value Operand(TensorData value, bool constant) => constant ? Constant(value) : Input(value);

    /// <summary>Adds an operation and makes its results graph outputs (result types may be declared, as ONNX models do).</summary>
    public Value[] Op(string opType, Value?[] inputs, (string Name, AttributeValue Value)[]? attributes = null, int outputs = 1, IrType[]? declared = null)
    {
        var names = Enumerable.Range(0, outputs).Select(i => _graph.UniqueName($"{opType.ToLowerInvariant()}{i}")).ToArray();
        var op = _graph.AddOperation(opType, inputs, names, (attributes ?? []).ToDictionary(a => a.Name, a => a.Value), outputTypes: declared);
        foreach (var r in op.Outputs) _graph.AddOutput(r!);
        return op.Outputs.Select(r => r!).ToArray();
    }

    /// <summary>Runs the reference and the compiled module on both devices and checks every output matches.</summary>
    public void Check(double rtol = 1e-4, double atol = 1e-6)
    {
        ShapeInference.Run(_graph, Declared());
        var expected = new ReferenceEvaluator().Run(_graph, _inputs);
        foreach (var device in new[] { "sync", "task" })
        {
            var outputs = RunCompiled(device);
            for (int i = 0; i < expected.Count; i++)
            {
                var diff = Comparison.Compare($"#{i} on {device}", expected[i], outputs[i], rtol, atol);
                Assert.True(diff is null, diff);
            }
        }
    }

    /// <summary>Checks the compiled module fails at run time on both devices with a message containing <paramref name="message"/>.</summary>
    public void CheckFails(string message)
    {
        ShapeInference.Run(_graph, Declared());
        foreach (var device in new[] { "sync", "task" })
        {
            var e = Assert.Throws<KilnRuntimeException>(() => RunCompiled(device));
            Assert.Contains(message, e.Message);
        }
    }

    /// <summary>The types the outputs were created with (declared types stand in for what inference cannot know).</summary>
    private Dictionary<Value, IrType> Declared()
    {
        var declared = new Dictionary<Value, IrType>(ReferenceEqualityComparer.Instance);
        foreach (var v in _graph.Outputs)
            if (v.Type is TensorType { Shape.IsRanked: true }) declared[v] = v.Type;
        return declared;
    }

    private TensorData[] RunCompiled(string device)
    {
        var compiled = KilnCompiler.Compile(new Model(CloneGraph()));
        using var module = Module.Load(compiled.Bytes);
        using var dev = CompiledEngine.CreateDevice(device);
        using var context = new Instance().CreateContext(module, dev);
        var views = _inputs.Select((v, i) => CompiledEngine.ToView(v, i)).ToArray();
        try
        {
            return context.GetFunction("main").Invoke(views).Select(CompiledEngine.FromView).ToArray();
        }
        finally
        {
            foreach (var v in views) v.Dispose();
        }
    }

    /// <summary>The compiler rewrites the graph it is given, so each compilation gets its own copy (through the text form).</summary>
    private Graph CloneGraph() => IrParser.ParseModel(IrPrinter.Print(new Model(_graph))).Graph;

    // ---- data

    /// <summary>Values in [-2, 2) (small integers for integer types, 0/1 for bool), deterministic per seed.</summary>
    public static TensorData Random(int seed, ElementType type, params long[] shape)
    {
        var r = new Random(seed);
        var f = new float[TensorData.CheckedCount(shape)];
        for (int i = 0; i < f.Length; i++)
            f[i] = type == ElementType.Bool ? r.Next(2) : type.IsInteger() ? r.Next(type.IsSignedInteger() ? -9 : 0, 10) : (float)(r.NextDouble() * 4 - 2);
        var t = TensorData.FromFloats(shape, f);
        return type == ElementType.Float32 ? t : Conversions.Convert(t, type);
    }

    public static TensorData Floats(int seed, params long[] shape) => Random(seed, ElementType.Float32, shape);

    public static (string, AttributeValue) Int(string name, long v) => (name, AttributeValue.Int(v));
    public static (string, AttributeValue) Ints(string name, params long[] v) => (name, AttributeValue.Ints(v));
    public static (string, AttributeValue) String(string name, string v) => (name, AttributeValue.String(v));
}
