using Kiln.Compiler;
using Kiln.Conformance;
using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime;
using Kiln.Runtime.Vm;
using Module = Kiln.Runtime.Module;

namespace Kiln.Tests.Kernels.Pool;

/// <summary>An operand of a one-operation test graph: a value, fed at run time or baked in as a constant, optionally declared with symbolic sizes.</summary>
public sealed record Operand(TensorData Value, bool Constant = false, Dim[]? Declared = null)
{
    public static implicit operator Operand(TensorData value) => new(value);
}

/// <summary>
/// Runs one operation compiled (on the sync device and on a two-thread task device) and with the
/// reference evaluator, and compares every result: exactly, or within rtol/atol for floats.
/// </summary>
public static class CompiledVsReference
{
    public static void Check(string opType, Operand?[] inputs, Dictionary<string, AttributeValue>? attributes = null, int outputs = 1,
        double rtol = 1e-5, double atol = 1e-6, bool exact = false)
    {
        var expected = new ReferenceEvaluator().Run(Build(opType, inputs, attributes, outputs, out var runtime), runtime);
        // Results whose shape depends on run-time data are declared, as a model's value_info would declare them.
        var compiled = KilnCompiler.Compile(new Model(Build(opType, inputs, attributes, outputs, out _, expected.Select(e => e.Type).ToArray())));
        foreach (var device in new[] { "sync", "task" })
        {
            var actual = Run(compiled.Bytes, device, runtime);
            Assert.Equal(expected.Count, actual.Count);
            for (int i = 0; i < actual.Count; i++)
            {
                var e = (TensorData)expected[i];
                string? diff = exact
                    ? (e.ElementType == actual[i].ElementType && e.Shape.AsSpan().SequenceEqual(actual[i].Shape) && e.BitwiseEquals(actual[i]) ? null : $"output {i} differs bitwise")
                    : Comparison.CompareTensors($"#{i}", e, actual[i], rtol, atol);
                Assert.True(diff is null, $"{opType} on {device}: {diff}");
            }
        }
    }

    public static Graph Build(string opType, Operand?[] inputs, Dictionary<string, AttributeValue>? attributes, int outputs, out List<DataValue> runtime,
        IrType[]? outputTypes = null)
    {
        var g = new Graph();
        runtime = [];
        var values = new Value?[inputs.Length];
        for (int i = 0; i < inputs.Length; i++)
        {
            if (inputs[i] is not { } operand) continue;
            if (operand.Constant)
            {
                values[i] = g.AddOperation("Constant", [], [$"c{i}"], new Dictionary<string, AttributeValue> { ["value"] = AttributeValue.Tensor(operand.Value) },
                    outputTypes: [operand.Value.Type]).Output(0);
                continue;
            }
            var shape = operand.Declared is { } declared ? new Shape(declared) : Shape.Of(operand.Value.Shape.Select(d => (Dim)d).ToArray());
            values[i] = g.AddInput($"x{i}", new TensorType(operand.Value.ElementType, shape));
            runtime.Add(operand.Value);
        }
        var op = g.AddOperation(opType, values, Enumerable.Range(0, outputs).Select(i => (string?)$"y{i}"), attributes, name: "n");
        foreach (var r in op.Outputs) g.AddOutput(r!);
        ShapeInference.Run(g);
        for (int i = 0; i < outputs && outputTypes is not null; i++)
            if (op.Output(i).Type is not TensorType { Shape.IsRanked: true } t || t.Shape.Dims.Any(d => d.IsUnknown)) op.Output(i).Type = outputTypes[i];
        return g;
    }

    private static List<TensorData> Run(byte[] bytes, string device, List<DataValue> inputs)
    {
        using var module = Module.Load(bytes);
        using var dev = CompiledEngine.CreateDevice(device);
        using var context = new Instance().CreateContext(module, dev);
        var views = inputs.Select((v, i) => CompiledEngine.ToView(v, i)).ToArray();
        try
        {
            return context.GetFunction("main").Invoke(views).Select(CompiledEngine.FromView).ToList();
        }
        finally
        {
            foreach (var v in views) v.Dispose();
        }
    }

    // ---- data
    public static TensorData Random(Random r, ElementType type, params long[] shape)
    {
        var t = TensorData.Zeros(ElementType.Float64, shape);
        var v = t.Data<double>();
        for (int i = 0; i < v.Length; i++) v[i] = type.IsFloat() ? r.NextDouble() * 4 - 2 : r.Next(-100, 100);
        return Conversions.Convert(t, type);
    }

    public static TensorData Floats(Random r, params long[] shape) => Random(r, ElementType.Float32, shape);

    public static Dictionary<string, AttributeValue> Attributes(params (string Name, object Value)[] attributes) =>
        attributes.ToDictionary(a => a.Name, a => a.Value switch
        {
            long v => AttributeValue.Int(v),
            int v => AttributeValue.Int(v),
            float v => AttributeValue.Float(v),
            double v => AttributeValue.Float((float)v),
            string v => AttributeValue.String(v),
            long[] v => AttributeValue.Ints(v),
            _ => throw new ArgumentException($"attribute {a.Name}: {a.Value.GetType().Name}"),
        });
}
