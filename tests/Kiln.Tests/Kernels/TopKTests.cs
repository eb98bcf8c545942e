using Kiln.Ir;
using static Kiln.Tests.Kernels.KernelOracle;

namespace Kiln.Tests.Kernels;

/// <summary>The "topk" kernel against the reference: largest and smallest, every axis, ties, NaN, k from 0 to the whole axis, element types.</summary>
public class TopKTests
{
    private static void TopK(TensorData x, long k, long axis, bool largest)
    {
        var o = new KernelOracle();
        int a = (int)(axis < 0 ? axis + x.Rank : axis);
        var shape = x.Shape.Select((d, i) => i == a ? k : d).ToArray();
        o.Op("TopK", [o.Input(x), o.Input(TensorData.Vector(k))], [Int("axis", axis), Int("largest", largest ? 1 : 0)], outputs: 2,
            declared: [new TensorType(x.ElementType, Shape.Of(shape)), new TensorType(ElementType.Int64, Shape.Of(shape))]);
        o.Check();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AxesAndK(bool largest)
    {
        TopK(Floats(1, 3, 20), 5, -1, largest);
        TopK(Floats(2, 20, 3), 20, 0, largest);
        TopK(Floats(3, 2, 9, 4), 0, 1, largest);
        TopK(Random(4, ElementType.Int32, 4, 50), 7, 1, largest);  // many ties
        var x = Floats(5, 3, 10);
        x.Data<float>()[4] = float.NaN;
        x.Data<float>()[15] = float.NaN;
        TopK(x, 4, 1, largest);
    }

    [Theory]
    [InlineData(ElementType.Float64)]
    [InlineData(ElementType.Float16)]
    [InlineData(ElementType.Int64)]
    [InlineData(ElementType.UInt64)]
    [InlineData(ElementType.UInt8)]
    public void OtherElementTypes(ElementType type) => TopK(Random(6, type, 3, 30), 6, 1, largest: true);

    [Fact]
    public void KMustMatchTheCompiledShape()
    {
        var o = new KernelOracle();
        o.Op("TopK", [o.Input(Floats(7, 3, 10)), o.Input(TensorData.Vector(4))], [Int("axis", 1)], outputs: 2,
            declared: [new TensorType(ElementType.Float32, Shape.Of(3, 3)), new TensorType(ElementType.Int64, Shape.Of(3, 3))]);
        o.CheckFails("k is 4 at run time");
    }
}
