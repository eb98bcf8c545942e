using Kiln.Compiler;
using Kiln.Conformance;
using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime;
using Kiln.Runtime.Vm;
using Module = Kiln.Runtime.Module;

namespace Kiln.Tests.Kernels;

/// <summary>
/// Builds small graphs around the GEMM-family operators (operands as graph inputs or as constants,
/// so both run-time and compile-time packing are covered), runs them through the reference
/// evaluator and through the compiler and runtime on both devices, and compares the results.
/// </summary>
public sealed class GemmTestHarness
{
    private readonly Graph _graph = new("test");
    private readonly List<TensorData> _inputs = [];

    /// <summary>A graph input holding <paramref name="value"/> when it runs.</summary>
    public Value Input(TensorData value)
    {
        _inputs.Add(value);
        return _graph.AddInput($"x{_inputs.Count}", value.Type);
    }

    /// <summary>A constant operand (weights the compiler may pack).</summary>
    public Value Constant(TensorData value) =>
        _graph.Add("Constant", [], new Dictionary<string, AttributeValue> { ["value"] = AttributeValue.Tensor(value) }, _graph.UniqueName("c"), value.Type);

    /// <summary>An operand that is a graph input or a constant.</summary>
    public Value Operand(TensorData value, bool constant) => constant ? Constant(value) : Input(value);

    public Value Op(string opType, Value?[] inputs, params (string Name, AttributeValue Value)[] attributes) =>
        _graph.Add(opType, inputs, attributes.ToDictionary(a => a.Name, a => a.Value), _graph.UniqueName(opType.ToLowerInvariant()));

    public void Output(Value v) => _graph.AddOutput(v);

    /// <summary>
    /// Runs the reference and the compiled module on both devices and checks every output matches
    /// (and, when given, that the compiled plan has that many dispatches: fusion happened).
    /// </summary>
    public void Check(double rtol = 1e-4, double atol = 1e-5, int? dispatches = null)
    {
        ShapeInference.Run(_graph);
        var expected = new ReferenceEvaluator().Run(_graph, _inputs);
        var compiled = KilnCompiler.Compile(new Model(_graph));
        if (dispatches is int n) Assert.Equal(n, compiled.Plan.Steps.OfType<Kiln.Compiler.Lowering.DispatchStep>().Count());
        foreach (var device in new[] { "sync", "task" })
        {
            using var module = Module.Load(compiled.Bytes);
            using var dev = CompiledEngine.CreateDevice(device);
            using var context = new Instance().CreateContext(module, dev);
            var views = _inputs.Select((v, i) => CompiledEngine.ToView(v, i)).ToArray();
            try
            {
                var outputs = context.GetFunction("main").Invoke(views);
                for (int i = 0; i < expected.Count; i++)
                {
                    var actual = CompiledEngine.FromView(outputs[i]);
                    var diff = Comparison.Compare($"#{i} on {device}", expected[i], actual, rtol, atol);
                    Assert.True(diff is null, diff);
                }
            }
            finally
            {
                foreach (var v in views) v.Dispose();
            }
        }
    }

    public static TensorData Random(int seed, params long[] shape) => Random(seed, ElementType.Float32, shape);

    /// <summary>Values in [-1, 1) (small integers for integer types), deterministic per seed.</summary>
    public static TensorData Random(int seed, ElementType type, params long[] shape)
    {
        var r = new Random(seed);
        var f = new float[TensorData.CheckedCount(shape)];
        for (int i = 0; i < f.Length; i++) f[i] = type.IsInteger() ? r.Next(-7, 8) : (float)(r.NextDouble() * 2 - 1);
        var t = TensorData.FromFloats(shape, f);
        return type == ElementType.Float32 ? t : Conversions.Convert(t, type);
    }

    public static (string, AttributeValue) Ints(string name, params long[] v) => (name, AttributeValue.Ints(v));
    public static (string, AttributeValue) Int(string name, long v) => (name, AttributeValue.Int(v));
    public static (string, AttributeValue) Float(string name, float v) => (name, AttributeValue.Float(v));
    public static (string, AttributeValue) String(string name, string v) => (name, AttributeValue.String(v));
}
