using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime;

namespace Kiln.Tests.Kernels;

/// <summary>
/// MelWeightMatrix through the "melweights" kernel: operands given at run time size the result
/// (one compiled module, two shapes), constant operands fold into a static shape, and operands
/// that do not give a declared shape fail the invocation.
/// </summary>
public class MelWeightMatrixTests
{
    private static Model Build(IrType? declared = null)
    {
        var g = new Graph("main");
        var inputs = new[] { ("mels", ElementType.Int32), ("dft", ElementType.Int64), ("rate", ElementType.Int32), ("lower", ElementType.Float32), ("upper", ElementType.Float64) }
            .Select(p => (Value?)g.AddInput(p.Item1, new TensorType(p.Item2, Shape.Of()))).ToArray();
        var op = g.AddOperation("MelWeightMatrix", inputs, ["w"], new Dictionary<string, AttributeValue> { ["output_datatype"] = AttributeValue.Int((long)ElementType.Float64) },
            outputTypes: declared is null ? null : [declared]);
        g.AddOutput(op.Output(0));
        var model = new Model(g);
        model.OpsetImports[""] = 17;
        var types = new Dictionary<Value, IrType>(ReferenceEqualityComparer.Instance);
        if (declared is not null) types[op.Output(0)] = declared;
        ShapeInference.Run(g, types);
        return model;
    }

    private static TensorData[] Operands(int mels, long dft, int rate, float lower, double upper) =>
        [TensorData.Scalar(ElementType.Int32, mels), TensorData.Scalar(ElementType.Int64, dft), TensorData.Scalar(ElementType.Int32, rate),
         TensorData.Scalar(ElementType.Float32, lower), TensorData.Scalar(ElementType.Float64, upper)];

    [Theory]
    [InlineData("sync")]
    [InlineData("task")]
    public void Operands_given_at_run_time_size_the_result(string device)
    {
        using var loaded = new KernelHarness.Loaded(Build(), "portable", device);
        foreach (var inputs in new[] { Operands(8, 16, 8192, 0, 4096), Operands(5, 63, 16000, 100, 7000), Operands(1, 8, 100, 10, 40) })
        {
            var expected = (TensorData)new ReferenceEvaluator().Run(Build().Graph, inputs)[0];
            var actual = loaded.Run(inputs)[0];
            Assert.Equal(expected.Shape, actual.Shape);
            Assert.True(expected.BitwiseEquals(actual));
        }
    }

    [Fact]
    public void Operands_that_do_not_give_the_declared_shape_fail()
    {
        using var loaded = new KernelHarness.Loaded(Build(new TensorType(ElementType.Float64, Shape.Of(9, 8))), "portable");
        Assert.Equal([9, 8], loaded.Run(Operands(8, 16, 8192, 0, 4096))[0].Shape);
        Assert.Throws<KilnRuntimeException>(() => loaded.Run(Operands(7, 16, 8192, 0, 4096)));
        // The upper edge beyond the spectrum (sample rate too low for it).
        var e = Assert.Throws<KilnRuntimeException>(() => loaded.Run(Operands(8, 16, 1000, 0, 4096)));
        Assert.Contains("upper_edge_hertz", e.Message);
    }
}
