using Kiln.Ir;
using static Kiln.Tests.Kernels.KernelOracle;

namespace Kiln.Tests.Kernels;

/// <summary>
/// The "gather", "gather-elements" and "gather-nd" kernels against the reference: every axis,
/// negative indices, int32 and int64 indices, element sizes of 1 to 8 bytes, empty tensors, and
/// out-of-range indices, which must fail with a clear error instead of reading outside the data.
/// </summary>
public class GatherTests
{
    private static TensorData Indices(ElementType type, long[] shape, long[] values) =>
        type == ElementType.Int64 ? TensorData.FromInt64s(shape, values) : TensorData.Create(ElementType.Int32, shape, values.Select(v => (int)v).ToArray());

    [Theory]
    [InlineData(ElementType.Int64)]
    [InlineData(ElementType.Int32)]
    public void GatherAlongEveryAxis(ElementType indexType)
    {
        var data = Floats(1, 4, 5, 6);
        for (int axis = -3; axis < 3; axis++)
            foreach (bool constant in new[] { false, true })
            {
                var o = new KernelOracle();
                o.Op("Gather", [o.Input(data), o.Operand(Indices(indexType, [2, 3], [0, -1, 2, 3, -4, 1]), constant)], [Int("axis", axis)]);
                o.Check();
            }
        var scalar = new KernelOracle();
        scalar.Op("Gather", [scalar.Input(data), scalar.Input(Indices(indexType, [], [2]))], [Int("axis", 1)]);
        scalar.Check();
    }

    [Theory]
    [InlineData(ElementType.Float16)]
    [InlineData(ElementType.Float64)]
    [InlineData(ElementType.Int8)]
    [InlineData(ElementType.Bool)]
    [InlineData(ElementType.UInt64)]
    public void GatherMovesAnyElement(ElementType type)
    {
        var o = new KernelOracle();
        o.Op("Gather", [o.Input(Random(2, type, 7, 3)), o.Input(TensorData.Vector(6, 0, -7, 3))]);
        o.Check();
        var empty = new KernelOracle();
        empty.Op("Gather", [empty.Input(Random(3, type, 7, 0)), empty.Input(TensorData.Vector(1, 2))]);
        empty.Check();
    }

    [Fact]
    public void GatherElementsWithSmallerIndices()
    {
        var data = Floats(4, 4, 5, 3);
        var indices = TensorData.FromInt64s([2, 5, 2], Enumerable.Range(0, 20).Select(i => (long)(i % 7 - 3)).ToArray());
        for (int axis = 0; axis < 3; axis++)
        {
            var o = new KernelOracle();
            var idx = TensorData.FromInt64s([2, 5, 2], indices.Data<long>().Select(v => Math.Clamp(v, -data.Shape[axis], data.Shape[axis] - 1)).ToArray());
            o.Op("GatherElements", [o.Input(data), o.Input(idx)], [Int("axis", axis)]);
            o.Check();
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void GatherNDSlicesAndBatches(int batchDims)
    {
        var data = Random(5, ElementType.Int32, 2, 3, 4);
        var o = new KernelOracle();
        var indices = batchDims == 0 ? TensorData.FromInt64s([3, 2], [0, 1, 1, -1, 0, 0]) : TensorData.FromInt64s([2, 2, 1], [2, 0, -1, 1]);
        o.Op("GatherND", [o.Input(data), o.Input(indices)], [Int("batch_dims", batchDims)]);
        o.Check();
        var full = new KernelOracle();
        full.Op("GatherND", [full.Input(data), full.Input(TensorData.FromInt64s([2, 3], [1, 2, 3, 0, 0, 0]))]);
        full.Check();
    }

    [Fact]
    public void OutOfRangeIndicesFail()
    {
        var gather = new KernelOracle();
        gather.Op("Gather", [gather.Input(Floats(6, 4, 3)), gather.Input(TensorData.Vector(1, 4))]);
        gather.CheckFails("index 4 is out of range for an axis of size 4");

        var elements = new KernelOracle();
        elements.Op("GatherElements", [elements.Input(Floats(7, 2, 3)), elements.Input(TensorData.FromInt64s([1, 2], [0, -4]))], [Int("axis", 1)]);
        elements.CheckFails("index -4 is out of range");

        var nd = new KernelOracle();
        nd.Op("GatherND", [nd.Input(Floats(8, 2, 3)), nd.Input(TensorData.FromInt64s([1, 2], [2, 0]))]);
        nd.CheckFails("index 2 is out of range");
    }

    [Fact]
    public void SymbolicSizes()
    {
        var o = new KernelOracle();
        o.Op("Gather", [o.Input(Floats(9, 6, 4), "N", null), o.Input(TensorData.Vector(5, 0, -1), "K")], [Int("axis", 0)]);
        o.Op("GatherElements", [o.Input(Floats(10, 3, 4), "M", null), o.Input(TensorData.FromInt64s([3, 2], [0, 3, 1, 2, -1, 0]), "M", null)], [Int("axis", 1)]);
        o.Check();
    }
}
