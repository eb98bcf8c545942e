using Kiln.Ir;
using Kiln.Tests.Kernels.Pool;
using static Kiln.Tests.Kernels.Pool.CompiledVsReference;

namespace Kiln.Tests.Kernels;

/// <summary>
/// The compiled pooling kernels ("pool", "global-pool") against the reference evaluator: every
/// row length around the vector widths for strides 1 and 2, pads, dilations, ceil mode, the
/// Indices result in both storage orders, integer and narrow float types, symbolic and empty shapes.
/// </summary>
public class PoolTests
{
    public static IEnumerable<object[]> Widths() => Enumerable.Range(1, 40).Select(w => new object[] { w });

    [Theory]
    [MemberData(nameof(Widths))]
    public void MaxPoolRowsOfEveryLength(int width)
    {
        var r = new Random(width);
        var x = Floats(r, 2, 3, 5, width + 2);
        foreach (long stride in new long[] { 1, 2, 3 })
            Check("MaxPool", [x], Attributes(("kernel_shape", new long[] { 2, 3 }), ("strides", new long[] { 1, stride })), exact: true);
        Check("MaxPool", [x], Attributes(("kernel_shape", new long[] { 3, 3 }), ("strides", new long[] { 2, 2 }), ("pads", new long[] { 1, 1, 1, 1 })), exact: true);
        // 2x2 stride 2 (its own vector loop), on rows up to 82 wide, odd heights and widths included.
        var wide = Floats(r, 2, 3, 7, 2 * width + 1);
        Check("MaxPool", [wide], Attributes(("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2, 2 })), exact: true);
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void AveragePoolRowsOfEveryLength(int width)
    {
        var r = new Random(100 + width);
        var x = Floats(r, 1, 2, 4, width + 1);
        foreach (long include in new long[] { 0, 1 })
            Check("AveragePool", [x], Attributes(("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2, 2 }), ("pads", new long[] { 0, 1, 1, 0 }),
                ("count_include_pad", include)), exact: true);
    }

    [Fact]
    public void WindowVariants()
    {
        var r = new Random(7);
        var x = Floats(r, 2, 3, 9, 11);
        var variants = new (string, object)[][]
        {
            [("kernel_shape", new long[] { 3, 3 }), ("dilations", new long[] { 2, 1 }), ("pads", new long[] { 2, 1, 0, 2 })],
            [("kernel_shape", new long[] { 3, 2 }), ("strides", new long[] { 2, 3 }), ("ceil_mode", 1L)],
            [("kernel_shape", new long[] { 2, 2 }), ("auto_pad", "SAME_UPPER"), ("strides", new long[] { 2, 2 })],
            [("kernel_shape", new long[] { 3, 3 }), ("auto_pad", "SAME_LOWER"), ("strides", new long[] { 2, 1 })],
            [("kernel_shape", new long[] { 4, 4 }), ("auto_pad", "VALID"), ("strides", new long[] { 3, 3 })],
            [("kernel_shape", new long[] { 3, 3 }), ("pads", new long[] { 2, 2, 2, 2 }), ("strides", new long[] { 2, 2 }), ("ceil_mode", 1L)],
        };
        foreach (var v in variants)
        {
            Check("MaxPool", [x], Attributes(v), exact: true);
            Check("AveragePool", [x], Attributes([.. v, ("count_include_pad", 1L)]), exact: true);
            Check("LpPool", [x], Attributes(v));
        }
    }

    [Fact]
    public void OneAndThreeSpatialAxes()
    {
        var r = new Random(8);
        Check("MaxPool", [Floats(r, 2, 3, 17)], Attributes(("kernel_shape", new long[] { 3 }), ("strides", new long[] { 2 }), ("pads", new long[] { 1, 1 })), exact: true);
        Check("AveragePool", [Floats(r, 2, 3, 17)], Attributes(("kernel_shape", new long[] { 4 }), ("dilations", new long[] { 2 })), exact: true);
        var x = Floats(r, 1, 2, 5, 6, 7);
        Check("MaxPool", [x], Attributes(("kernel_shape", new long[] { 2, 3, 2 }), ("strides", new long[] { 1, 2, 2 }), ("dilations", new long[] { 2, 1, 1 })), exact: true);
        Check("AveragePool", [x], Attributes(("kernel_shape", new long[] { 3, 3, 3 }), ("pads", new long[] { 1, 1, 1, 1, 1, 1 }), ("count_include_pad", 1L)), exact: true);
        Check("LpPool", [x], Attributes(("kernel_shape", new long[] { 2, 2, 2 }), ("p", 3L)));
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(1L)]
    public void MaxPoolIndicesInBothStorageOrders(long storageOrder)
    {
        var r = new Random(9);
        var x = Floats(r, 2, 3, 7, 9);
        Check("MaxPool", [x], Attributes(("kernel_shape", new long[] { 3, 3 }), ("strides", new long[] { 2, 2 }), ("pads", new long[] { 1, 1, 1, 1 }),
            ("storage_order", storageOrder)), outputs: 2, exact: true);
        // Ties: the first maximum wins, as in the reference.
        var ties = TensorData.Zeros(ElementType.Float32, 1, 1, 4, 4);
        Check("MaxPool", [ties], Attributes(("kernel_shape", new long[] { 2, 2 }), ("storage_order", storageOrder)), outputs: 2, exact: true);
    }

    [Fact]
    public void MaxPoolSkipsNaN()
    {
        var x = TensorData.FromFloats([1, 1, 2, 4], [float.NaN, 1, float.NaN, float.NaN, -3, float.NaN, float.NaN, float.NaN]);
        Check("MaxPool", [x], Attributes(("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2, 2 })), outputs: 2, exact: true);
        Check("MaxPool", [x], Attributes(("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2, 2 })), exact: true);
        // Wide enough for the vector loop: NaN in one, two, three and all four taps of windows.
        var wide = new float[2 * 40];
        for (int i = 0; i < wide.Length; i++) wide[i] = i % 5 == 0 || i % 7 == 0 || (i >= 8 && i < 12) || (i >= 48 && i < 52) ? float.NaN : i - 30;
        Check("MaxPool", [TensorData.FromFloats([1, 1, 2, 40], wide)], Attributes(("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2, 2 })), exact: true);
    }

    [Theory]
    [InlineData(ElementType.UInt8)]
    [InlineData(ElementType.Int8)]
    [InlineData(ElementType.Float64)]
    [InlineData(ElementType.Float16)]
    [InlineData(ElementType.BFloat16)]
    public void ElementTypes(ElementType type)
    {
        var r = new Random(10);
        var x = Random(r, type, 2, 3, 6, 37);
        var window = Attributes(("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2, 2 }));
        Check("MaxPool", [x], window, exact: true);
        if (!type.IsFloat()) return;
        Check("AveragePool", [x], window, exact: true);
        Check("LpPool", [x], window);
        Check("GlobalAveragePool", [x], rtol: 1e-3);
        Check("GlobalMaxPool", [x], exact: true);
    }

    [Fact]
    public void SymbolicAndEmptyShapes()
    {
        var r = new Random(11);
        var declared = new Dim[] { Dim.Symbol("N"), 4, Dim.Symbol("H"), Dim.Symbol("W") };
        foreach (var shape in new long[][] { [1, 4, 13, 21], [2, 4, 8, 8], [0, 4, 5, 5] })
        {
            var x = new Operand(Floats(r, shape), Declared: declared);
            Check("MaxPool", [x], Attributes(("kernel_shape", new long[] { 3, 3 }), ("strides", new long[] { 2, 2 }), ("auto_pad", "SAME_UPPER")), exact: true);
            Check("AveragePool", [x], Attributes(("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2, 2 })), exact: true);
            Check("GlobalAveragePool", [x], exact: true);
            Check("GlobalMaxPool", [x], exact: true);
            Check("GlobalLpPool", [x], Attributes(("p", 3L)));
        }
    }
}
