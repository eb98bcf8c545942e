using Google.Protobuf;
using Kiln.Ir;
using Kiln.Onnx;
using Kiln.Onnx.Proto;
using Kiln.Ops;

namespace Kiln.Tests.Ops;

/// <summary>
/// The convolution / pooling / matrix / resize / quantization family beyond the conformance
/// suite: the fast convolution loops against a naive definition on random shapes, symbolic shape
/// inference, errors naming the node, upgrades of older forms, and exact integer paths.
/// </summary>
public class NnFamilyTests
{
    private static Graph SingleOp(string opType, IrType?[] inputTypes, int outputs = 1, Dictionary<string, AttributeValue>? attributes = null)
    {
        var g = new Graph();
        var inputs = inputTypes.Select((t, i) => t is null ? null : g.AddInput($"x{i}", t)).ToArray();
        var op = g.AddOperation(opType, inputs, Enumerable.Range(0, outputs).Select(i => (string?)$"y{i}"), attributes, name: "n");
        foreach (var r in op.Outputs) g.AddOutput(r!);
        return g;
    }

    private static IReadOnlyList<DataValue> Run(Graph g, params TensorData[] inputs)
    {
        ShapeInference.Run(g);
        return new ReferenceEvaluator().Run(g, inputs);
    }

    private static TensorType F32(params Dim[] dims) => new(ElementType.Float32, Shape.Of(dims));

    private static TensorData Random(Random r, params long[] shape)
    {
        var t = TensorData.Zeros(ElementType.Float32, shape);
        var v = t.Data<float>();
        for (int i = 0; i < v.Length; i++) v[i] = (float)(r.NextDouble() * 2 - 1);
        return t;
    }

    private static void AssertClose(double[] expected, TensorData actual, double tolerance = 1e-4)
    {
        Assert.Equal(expected.Length, actual.ElementCount);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual.GetDouble(i)) <= tolerance, $"element {i}: expected {expected[i]}, got {actual.GetDouble(i)}");
    }

    /// <summary>Conv by its definition: every output element sums x * w over the group's channels and taps.</summary>
    private static double[] NaiveConv(TensorData x, TensorData w, long[] strides, long[] dilations, long[] pads, long group, long[] outShape)
    {
        int k = x.Rank - 2;
        long c = x.Shape[1], m = w.Shape[0], cg = c / group, mg = m / group;
        var y = new double[TensorData.CheckedCount(outShape)];
        var xStrides = Broadcasting.Strides(x.Shape);
        var wStrides = Broadcasting.Strides(w.Shape);
        var yStrides = Broadcasting.Strides(outShape);
        var kernel = w.Shape[2..];
        for (long i = 0; i < y.LongLength; i++)
        {
            long n = i / yStrides[0], f = i / yStrides[1] % m;
            double sum = 0;
            for (long ci = 0; ci < cg; ci++)
                for (long t = 0; t < WindowGeometry.Product(kernel); t++)
                {
                    long xOffset = n * xStrides[0] + (f / mg * cg + ci) * xStrides[1], wOffset = f * wStrides[0] + ci * wStrides[1];
                    bool inside = true;
                    for (int a = 0; a < k; a++)
                    {
                        long tap = t / WindowGeometry.Product(kernel.AsSpan(a + 1)) % kernel[a];
                        long o = i / yStrides[a + 2] % outShape[a + 2];
                        long pos = o * strides[a] - pads[a] + tap * dilations[a];
                        inside &= pos >= 0 && pos < x.Shape[a + 2];
                        xOffset += pos * xStrides[a + 2];
                        wOffset += tap * wStrides[a + 2];
                    }
                    if (inside) sum += x.GetDouble(xOffset) * w.GetDouble(wOffset);
                }
            y[i] = sum;
        }
        return y;
    }

    [Theory]
    [InlineData(new long[] { 1, 4, 37 }, new long[] { 6, 2, 5 }, new long[] { 2 }, new long[] { 3 }, new long[] { 4, 1 }, 2)]
    [InlineData(new long[] { 2, 3, 9, 1100 }, new long[] { 4, 3, 3, 3 }, new long[] { 1, 1 }, new long[] { 1, 1 }, new long[] { 1, 1, 1, 1 }, 1)]
    [InlineData(new long[] { 1, 6, 11, 13 }, new long[] { 6, 1, 3, 3 }, new long[] { 2, 3 }, new long[] { 2, 1 }, new long[] { 0, 2, 1, 0 }, 6)]
    [InlineData(new long[] { 1, 8, 7, 9 }, new long[] { 5, 8, 1, 1 }, new long[] { 1, 1 }, new long[] { 1, 1 }, new long[] { 0, 0, 0, 0 }, 1)]
    [InlineData(new long[] { 1, 2, 5, 6, 7 }, new long[] { 4, 1, 2, 3, 2 }, new long[] { 1, 2, 1 }, new long[] { 2, 1, 3 }, new long[] { 1, 0, 2, 0, 1, 1 }, 2)]
    public void ConvMatchesItsDefinition(long[] xShape, long[] wShape, long[] strides, long[] dilations, long[] pads, long group)
    {
        var r = new Random(7);
        var x = Random(r, xShape);
        var w = Random(r, wShape);
        var attributes = new Dictionary<string, AttributeValue>
        {
            ["strides"] = AttributeValue.Ints(strides), ["dilations"] = AttributeValue.Ints(dilations),
            ["pads"] = AttributeValue.Ints(pads), ["group"] = AttributeValue.Int(group),
        };
        var g = SingleOp("Conv", [x.Type, w.Type], attributes: attributes);
        var y = (TensorData)Run(g, x, w)[0];
        int k = xShape.Length - 2;
        Assert.Equal(xShape[0], y.Shape[0]);
        Assert.Equal(wShape[0], y.Shape[1]);
        AssertClose(NaiveConv(x, w, strides, dilations, pads.Take(k).ToArray(), group, y.Shape), y);
    }

    [Fact]
    public void ConvTransposeIsTheAdjointOfConv()
    {
        // <Conv(x, w), z> == <x, ConvTranspose(z, w)> for every x, z: checks the scatter loops
        // (strides, dilations, asymmetric pads, groups) against the gather loops.
        var r = new Random(3);
        var x = Random(r, 1, 4, 9, 10);
        var w = Random(r, 6, 2, 3, 2);
        var attributes = new Dictionary<string, AttributeValue>
        {
            ["strides"] = AttributeValue.Ints(2, 3), ["dilations"] = AttributeValue.Ints(2, 1),
            ["pads"] = AttributeValue.Ints(1, 0, 2, 1), ["group"] = AttributeValue.Int(2),
        };
        var y = (TensorData)Run(SingleOp("Conv", [x.Type, w.Type], attributes: attributes), x, w)[0];
        var z = Random(r, y.Shape);
        // Conv's weights [M, C / group, ...] read as ConvTranspose's [C', M' / group, ...] map z's M channels back to x's C.
        attributes["output_shape"] = AttributeValue.Ints(9, 10);
        var xt = (TensorData)Run(SingleOp("ConvTranspose", [z.Type, w.Type], attributes: attributes), z, w)[0];
        Assert.Equal(x.Shape, xt.Shape);
        double left = 0, right = 0;
        for (int i = 0; i < y.ElementCount; i++) left += y.GetDouble(i) * z.GetDouble(i);
        for (int i = 0; i < x.ElementCount; i++) right += x.GetDouble(i) * xt.GetDouble(i);
        Assert.True(Math.Abs(left - right) < 1e-3, $"{left} vs {right}");
    }

    [Fact]
    public void ConvInfersSymbolicSpatialSizes()
    {
        Dim n = Dim.Symbol("N"), h = Dim.Symbol("H"), w = Dim.Symbol("W");
        var g = SingleOp("Conv", [F32(n, 3, h, w), F32(8, 3, 3, 3)], attributes: new()
        {
            ["strides"] = AttributeValue.Ints(2, 2), ["pads"] = AttributeValue.Ints(1, 1, 1, 1),
        });
        ShapeInference.Run(g);
        Assert.Equal(F32(n, 8, (h - 1) / 2 + 1, (w - 1) / 2 + 1), g.Outputs[0].Type);

        var same = SingleOp("MaxPool", [F32(n, 3, h, w)], attributes: new()
        {
            ["kernel_shape"] = AttributeValue.Ints(3, 3), ["strides"] = AttributeValue.Ints(2, 2), ["auto_pad"] = AttributeValue.String("SAME_UPPER"),
        });
        ShapeInference.Run(same);
        Assert.Equal(F32(n, 3, Dim.CeilDiv(h, 2), Dim.CeilDiv(w, 2)), same.Outputs[0].Type);
    }

    [Fact]
    public void ConvRejectsChannelMismatchNamingTheNode()
    {
        var g = SingleOp("Conv", [F32(1, 4, 5, 5), F32(8, 3, 3, 3)]);
        var e = Assert.Throws<KilnException>(() => ShapeInference.Run(g));
        Assert.Contains("Conv node 'n'", e.Message);
        Assert.Contains("4 channels", e.Message);
    }

    [Fact]
    public void MaxPoolIndicesInBothStorageOrders()
    {
        // 1x1x2x3 input, 2x2 windows with stride 1: maxima at (1,1) and (0,2).
        var x = TensorData.FromFloats([1, 1, 2, 3], [1, 2, 9, 4, 8, 3]);
        foreach (var (order, expected) in new[] { (0L, new long[] { 4, 2 }), (1L, new long[] { 3, 4 }) })
        {
            var g = SingleOp("MaxPool", [x.Type], outputs: 2, attributes: new()
            {
                ["kernel_shape"] = AttributeValue.Ints(2, 2), ["storage_order"] = AttributeValue.Int(order),
            });
            var results = Run(g, x);
            AssertClose([8, 9], (TensorData)results[0]);
            Assert.Equal(expected, ((TensorData)results[1]).Data<long>());
        }
    }

    [Fact]
    public void ResizeNearestCopiesInt64Exactly()
    {
        long big = (1L << 62) + 1;
        var x = TensorData.FromInt64s([1, 2], [big, -big]);
        var scales = TensorData.FromFloats([2], [1, 2]);
        var g = new Graph();
        var input = g.AddInput("x", x.Type);
        var s = g.Add("Constant", [], new Dictionary<string, AttributeValue> { ["value"] = AttributeValue.Tensor(scales) }, "scales");
        g.AddOutput(g.Add("Resize", [input, null, s], new Dictionary<string, AttributeValue> { ["mode"] = AttributeValue.String("nearest") }, "y"));
        var y = (TensorData)Run(g, x)[0];
        Assert.Equal(new[] { big, big, -big, -big }, y.Data<long>());
    }

    [Fact]
    public void ResizeKeepsIntegerScalesSymbolic()
    {
        Dim h = Dim.Symbol("H");
        var g = new Graph();
        var input = g.AddInput("x", F32(1, 1, h, 8));
        var s = g.Add("Constant", [], new Dictionary<string, AttributeValue> { ["value"] = AttributeValue.Tensor(TensorData.FromFloats([4], [1, 1, 2, 0.5f])) }, "scales");
        g.AddOutput(g.Add("Resize", [input, null, s], null, "y"));
        ShapeInference.Run(g);
        Assert.Equal(F32(1, 1, h * 2, 4), g.Outputs[0].Type);
    }

    [Fact]
    public void UpsampleSevenBecomesAsymmetricFloorResize()
    {
        // Upsample-7 with scale 3: numpy-repeat semantics (floor), not round-to-nearest.
        var node = new NodeProto { OpType = "Upsample", Input = { "x" }, Output = { "y" } };
        node.Attribute.Add(new AttributeProto { Name = "scales", Type = AttributeProto.Types.AttributeType.Floats, Floats = { 1, 3 } });
        var model = new ModelProto { IrVersion = 3, OpsetImport = { new OperatorSetIdProto { Version = 7 } }, Graph = new GraphProto { Name = "g", Node = { node } } };
        model.Graph.Input.Add(ValueInfo("x", 1, 2));
        model.Graph.Output.Add(ValueInfo("y", 1, 6));
        var imported = OnnxImporter.Load(model.ToByteArray());
        Assert.Equal("Resize", imported.Graph.Operations.Last().OpType);
        var y = (TensorData)new ReferenceEvaluator().Run(imported.Graph, [TensorData.FromFloats([1, 2], [1, 2])])[0];
        AssertClose([1, 1, 1, 2, 2, 2], y);
    }

    private static ValueInfoProto ValueInfo(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (long d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }

    [Fact]
    public void QuantizeLinearBlockedWithAShortLastBlock()
    {
        // Blocks of 2 along axis 1 of a 1x5 tensor: scales for columns {0,1}, {2,3}, {4}.
        var x = TensorData.FromFloats([1, 5], [1, 2, 3, 4, 5]);
        var scale = TensorData.FromFloats([1, 3], [1, 2, 4]);
        var g = SingleOp("QuantizeLinear", [x.Type, scale.Type], attributes: new()
        {
            ["axis"] = AttributeValue.Int(1), ["block_size"] = AttributeValue.Int(2), ["output_dtype"] = AttributeValue.Int((long)ElementType.Int8),
        });
        var y = (TensorData)Run(g, x, scale)[0];
        Assert.Equal(ElementType.Int8, y.ElementType);
        Assert.Equal(new long[] { 1, 2, 2, 2, 1 }, y.ToInt64Array()); // 1.5 and 1.25 round half to even
    }

    [Fact]
    public void MatMulIntegerSubtractsPerRowZeroPoints()
    {
        var a = TensorData.Create(ElementType.UInt8, [2, 2], new byte[] { 200, 10, 3, 4 });
        var b = TensorData.Create(ElementType.UInt8, [2, 1], new byte[] { 1, 2 });
        var aZero = TensorData.Create(ElementType.UInt8, [2], new byte[] { 100, 0 });
        var g = SingleOp("MatMulInteger", [a.Type, b.Type, aZero.Type]);
        var y = (TensorData)Run(g, a, b, aZero)[0];
        Assert.Equal(new[] { (200 - 100) * 1 + (10 - 100) * 2, 3 * 1 + 4 * 2 }, y.Data<int>());
    }

    [Fact]
    public void MatMulLargeProductMatchesItsDefinition()
    {
        // Large enough for the row-parallel path; batch axes broadcast.
        var r = new Random(5);
        var a = Random(r, 2, 1, 70, 90);
        var b = Random(r, 3, 90, 200);
        var y = (TensorData)Run(SingleOp("MatMul", [a.Type, b.Type]), a, b)[0];
        Assert.Equal(new long[] { 2, 3, 70, 200 }, y.Shape);
        var expected = new double[y.ElementCount];
        for (int i = 0; i < expected.Length; i++)
        {
            int j = i % 200, row = i / 200 % 70, batchB = i / (200 * 70) % 3, batchA = i / (200 * 70 * 3);
            for (int p = 0; p < 90; p++) expected[i] += a.GetDouble((batchA * 70 + row) * 90 + p) * b.GetDouble((batchB * 90 + p) * 200 + j);
        }
        AssertClose(expected, y);
    }
}
