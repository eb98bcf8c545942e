using Kiln.Ir;
using static Kiln.Tests.Kernels.KernelOracle;

namespace Kiln.Tests.Kernels;

/// <summary>
/// The "scatter-elements", "scatter-nd" and "tensor-scatter" kernels against the reference: every
/// axis, every reduction, duplicate indices (the last update wins), negative indices, element
/// types, and out-of-range indices and write positions, which must fail cleanly.
/// </summary>
public class ScatterTests
{
    public static TheoryData<string> Reductions() => new("none", "add", "mul", "max", "min");

    [Theory]
    [MemberData(nameof(Reductions))]
    public void ScatterElementsAlongEveryAxis(string reduction)
    {
        var data = Floats(1, 3, 4, 5);
        for (int axis = 0; axis < 3; axis++)
        {
            long size = data.Shape[axis];
            var indices = TensorData.FromInt64s([2, 3, 2], Enumerable.Range(0, 12).Select(i => (long)(i * 7 % (2 * size) - size)).ToArray());
            var o = new KernelOracle();
            o.Op("ScatterElements", [o.Input(data), o.Input(indices), o.Input(Floats(2, 2, 3, 2))], [Int("axis", axis), String("reduction", reduction)]);
            o.Check();
        }
    }

    [Theory]
    [MemberData(nameof(Reductions))]
    public void ScatterNDSlicesAndElements(string reduction)
    {
        var data = Random(3, ElementType.Int32, 4, 3, 2);
        var slices = new KernelOracle();
        slices.Op("ScatterND", [slices.Input(data), slices.Input(TensorData.FromInt64s([3, 1], [1, -1, 1])), slices.Input(Random(4, ElementType.Int32, 3, 3, 2))],
            [String("reduction", reduction)]);
        slices.Check();
        var elements = new KernelOracle();
        elements.Op("ScatterND", [elements.Input(data), elements.Input(TensorData.FromInt64s([2, 3], [0, 0, 0, 3, 2, 1])), elements.Input(Random(5, ElementType.Int32, 2))],
            [String("reduction", reduction)]);
        elements.Check();
    }

    [Theory]
    [InlineData(ElementType.Float16)]
    [InlineData(ElementType.Float64)]
    [InlineData(ElementType.UInt8)]
    [InlineData(ElementType.Int64)]
    public void OtherElementTypes(ElementType type)
    {
        foreach (var reduction in new[] { "none", "add", "max" })
        {
            var o = new KernelOracle();
            o.Op("ScatterElements", [o.Input(Random(6, type, 4, 4)), o.Input(TensorData.FromInt64s([2, 2], [3, 0, 0, 3])), o.Input(Random(7, type, 2, 2))],
                [Int("axis", 1), String("reduction", reduction)]);
            o.Check(1e-2);
        }
        var copy = new KernelOracle();
        copy.Op("ScatterND", [copy.Input(Random(8, ElementType.Bool, 3, 2)), copy.Input(TensorData.FromInt64s([1, 1], [2])), copy.Input(Random(9, ElementType.Bool, 1, 2))]);
        copy.Check();
    }

    [Theory]
    [InlineData("linear", true)]
    [InlineData("linear", false)]
    [InlineData("circular", true)]
    public void TensorScatterWritesEachBatchEntry(string mode, bool withIndices)
    {
        var cache = Floats(10, 3, 2, 6, 4);
        var o = new KernelOracle();
        var writes = withIndices ? o.Input(TensorData.Vector(0, 2, mode == "circular" ? 5 : 3)) : null;
        o.Op("TensorScatter", [o.Input(cache), o.Input(Floats(11, 3, 2, 3, 4)), writes], [String("mode", mode)]);
        o.Check();
    }

    [Fact]
    public void OutOfRangeTargetsFail()
    {
        var elements = new KernelOracle();
        elements.Op("ScatterElements", [elements.Input(Floats(12, 2, 3)), elements.Input(TensorData.FromInt64s([1, 1], [3])), elements.Input(Floats(13, 1, 1))], [Int("axis", 1)]);
        elements.CheckFails("index 3 is out of range for an axis of size 3");

        var nd = new KernelOracle();
        nd.Op("ScatterND", [nd.Input(Floats(14, 2, 3)), nd.Input(TensorData.FromInt64s([1, 2], [0, -4])), nd.Input(Floats(15, 1))]);
        nd.CheckFails("index -4 is out of range");

        var cache = new KernelOracle();
        cache.Op("TensorScatter", [cache.Input(Floats(16, 2, 5, 2)), cache.Input(Floats(17, 2, 3, 2)), cache.Input(TensorData.Vector(0, 3))]);
        cache.CheckFails("write index 3 of batch entry 1");
    }
}
