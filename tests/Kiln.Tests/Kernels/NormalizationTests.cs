using Kiln.Compiler.Passes;
using Kiln.Ir;
using Kiln.Ops;
using Kiln.Tests.Kernels.Pool;
using static Kiln.Tests.Kernels.Pool.CompiledVsReference;

namespace Kiln.Tests.Kernels;

/// <summary>
/// The compiled normalizations ("normalize", "lrn", BatchNormalization's elementwise
/// programs) against the reference evaluator, over row lengths around the
/// chunk size, every axis, broadcast parameters, statistics outputs, narrow types and symbolic sizes.
/// </summary>
public class NormalizationTests
{
    public static IEnumerable<object[]> Lengths() => new[] { 1, 2, 7, 8, 9, 31, 511, 512, 513, 1500 }.Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(Lengths))]
    public void LayerAndRmsNormalizationRows(int length)
    {
        var r = new Random(length);
        var x = Floats(r, 3, length);
        Check("LayerNormalization", [x, Floats(r, length), Floats(r, length)], outputs: 3);
        Check("LayerNormalization", [x, Floats(r, length)], Attributes(("epsilon", 0.5f)));
        Check("RMSNormalization", [x, Floats(r, length)]);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(-1)]
    public void EveryAxis(int axis)
    {
        var r = new Random(axis + 10);
        var x = Floats(r, 2, 3, 5);
        int first = axis < 0 ? 3 + axis : axis;
        long[] normalized = new long[] { 2, 3, 5 }[first..];
        Check("LayerNormalization", [x, Floats(r, normalized), new Operand(Floats(r, normalized), Constant: true)], Attributes(("axis", (long)axis)), outputs: 3);
        Check("RMSNormalization", [x, Floats(r, normalized)], Attributes(("axis", (long)axis)));
        Check("LpNormalization", [x], Attributes(("axis", (long)axis), ("p", 1L)));
        Check("LpNormalization", [x], Attributes(("axis", (long)axis), ("p", 2L)));
    }

    [Fact]
    public void BroadcastScaleAndDoubleStatistics()
    {
        var r = new Random(3);
        var x = Floats(r, 4, 6, 8);
        Check("LayerNormalization", [x, Floats(r, 1, 8), Floats(r, 1)], Attributes(("axis", -2L), ("stash_type", 11L)), outputs: 3);
        Check("LayerNormalization", [x, Floats(r, 1, 6, 1)], Attributes(("axis", 1L)));
    }

    [Fact]
    public void InstanceGroupAndMeanVariance()
    {
        var r = new Random(4);
        var x = Floats(r, 2, 6, 5, 7);
        Check("InstanceNormalization", [x, Floats(r, 6), Floats(r, 6)], Attributes(("epsilon", 1e-3f)));
        foreach (long groups in new long[] { 1, 2, 3, 6 })
            Check("GroupNormalization", [x, Floats(r, 6), Floats(r, 6)], Attributes(("num_groups", groups)));
        Check("MeanVarianceNormalization", [x]);
        Check("MeanVarianceNormalization", [x], Attributes(("axes", new long[] { 1, 3 })));
        Check("MeanVarianceNormalization", [x], Attributes(("axes", new long[] { 2, 3 })));
        Check("MeanVarianceNormalization", [x], Attributes(("axes", new long[] { 0 })));
    }

    [Theory]
    [InlineData(1L)]
    [InlineData(3L)]
    [InlineData(4L)]
    public void LocalResponse(long size)
    {
        var r = new Random(5);
        Check("LRN", [Floats(r, 2, 7, 5, 300)], Attributes(("size", size), ("alpha", 1e-2f), ("beta", 0.6f), ("bias", 2f)));
        Check("LRN", [Floats(r, 1, 3, 4)], Attributes(("size", size)));
    }

    [Fact]
    public void BatchNormalizationForms()
    {
        var r = new Random(6);
        var x = Floats(r, 2, 5, 3, 9);
        Operand Positive(bool constant) => new(Abs(Floats(r, 5)), constant);
        foreach (bool constant in new[] { true, false })
            Check("BatchNormalization", [x, new Operand(Floats(r, 5), constant), new Operand(Floats(r, 5), constant), new Operand(Floats(r, 5), constant), Positive(constant)],
                Attributes(("epsilon", 1e-3f)));
        Check("BatchNormalization", [x, Floats(r, 5), Floats(r, 5), Floats(r, 5), Positive(false)], Attributes(("training_mode", 1L), ("momentum", 0.8f)), outputs: 3);
        Check("BatchNormalization", [Floats(r, 4, 5), Floats(r, 5), Floats(r, 5), Floats(r, 5), Positive(true)]);
    }

    [Fact]
    public void NarrowTypesAndSymbolicSizes()
    {
        var r = new Random(7);
        var half = Random(r, ElementType.Float16, 3, 4, 10);
        Check("LayerNormalization", [half, Random(r, ElementType.Float16, 10)], rtol: 1e-3, atol: 1e-3);
        Check("InstanceNormalization", [half, Random(r, ElementType.Float16, 4), Random(r, ElementType.Float16, 4)], rtol: 1e-3, atol: 1e-3);
        Check("LRN", [half], Attributes(("size", 3L)), rtol: 1e-3, atol: 1e-3);
        Check("LayerNormalization", [Random(r, ElementType.Float64, 3, 4, 10), Random(r, ElementType.Float64, 10)], outputs: 3);
        var declared = new Dim[] { Dim.Symbol("B"), Dim.Symbol("T"), 16 };
        foreach (var shape in new long[][] { [1, 5, 16], [3, 2, 16], [0, 4, 16] })
        {
            var x = new Operand(Floats(r, shape), Declared: declared);
            Check("LayerNormalization", [x, Floats(r, 16), Floats(r, 16)]);
            var channelsFirst = new Operand(Floats(r, shape[0], 16, shape[1], 3), Declared: [declared[0], 16, declared[1], 3]);
            Check("InstanceNormalization", [channelsFirst, Floats(r, 16), Floats(r, 16)]);
            Check("MeanVarianceNormalization", [channelsFirst]);
        }
    }

    private static TensorData Abs(TensorData t) => TensorData.FromFloats(t.Shape, t.Data<float>().Select(v => Math.Abs(v) + 0.1f).ToArray());
}
