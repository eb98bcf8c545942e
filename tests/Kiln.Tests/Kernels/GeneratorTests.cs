using Kiln.Ir;
using static Kiln.Tests.Kernels.KernelOracle;

namespace Kiln.Tests.Kernels;

/// <summary>OneHot ("onehot" kernel), Trilu ("trilu" kernel) and EyeLike (strided fills) against the reference.</summary>
public class GeneratorTests
{
    [Theory]
    [InlineData(-1)]
    [InlineData(0)]
    [InlineData(1)]
    public void OneHotOnEveryAxis(long axis)
    {
        var indices = TensorData.Create(ElementType.Float32, [2, 3], new[] { 0f, 2.7f, -1f, 9f, -5f, 4f });
        var o = new KernelOracle();
        var depth = TensorData.Scalar(ElementType.Int64, 5L);
        int a = (int)(axis < 0 ? axis + 3 : axis);
        var shape = new List<long> { 2, 3 };
        shape.Insert(a, 5);
        o.Op("OneHot", [o.Input(indices), o.Input(depth), o.Input(TensorData.Create(ElementType.Int32, [2], new[] { -3, 8 }))], [Int("axis", axis)],
            declared: [new TensorType(ElementType.Int32, Shape.Of(shape.ToArray()))]);
        o.Check();
    }

    [Fact]
    public void OneHotDepthMustMatchTheCompiledShape()
    {
        var o = new KernelOracle();
        o.Op("OneHot", [o.Input(TensorData.Vector(1, 2)), o.Input(TensorData.Scalar(ElementType.Int64, 4L)), o.Input(TensorData.FromFloats([2], [0, 1]))],
            declared: [new TensorType(ElementType.Float32, Shape.Of(2, 3))]);
        o.CheckFails("depth is 4 at run time");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TriluOfEveryDiagonal(bool upper)
    {
        var x = Random(1, ElementType.Int64, 2, 4, 6);
        foreach (long k in new long[] { -100, -4, -1, 0, 1, 3, 6, 100, long.MaxValue, long.MinValue })
        {
            var o = new KernelOracle();
            o.Op("Trilu", [o.Input(x), o.Input(TensorData.Scalar(ElementType.Int64, k))], [Int("upper", upper ? 1 : 0)]);
            o.Check();
        }
        var noK = new KernelOracle();
        noK.Op("Trilu", [noK.Input(Floats(2, 5, 3))], [Int("upper", upper ? 1 : 0)]);
        noK.Check();
        var empty = new KernelOracle();
        empty.Op("Trilu", [empty.Input(Floats(3, 0, 3))], [Int("upper", upper ? 1 : 0)]);
        empty.Check();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(-1)]
    [InlineData(-7)]
    [InlineData(9)]
    public void EyeLikeDiagonals(long k)
    {
        foreach (var type in new[] { ElementType.Float32, ElementType.Int32, ElementType.Bool, ElementType.Float16 })
        {
            var o = new KernelOracle();
            o.Op("EyeLike", [o.Input(Floats(4, 4, 6))], [Int("k", k), Int("dtype", (long)type)]);
            o.Check();
        }
    }
}
