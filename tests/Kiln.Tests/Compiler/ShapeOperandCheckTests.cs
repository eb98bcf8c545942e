using Kiln.Conformance;
using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime;

namespace Kiln.Tests.Compiler;

/// <summary>
/// Shape operands given as data (Reshape's shape, Unsqueeze's axes, ...): the compiled program
/// takes the result's shape from the model's declaration and checks at run time that the operand
/// gives it. Values that do give it match the reference evaluator; values that do not fail the
/// invocation with an error naming the operation (never a result of the wrong shape).
/// </summary>
public sealed class ShapeOperandCheckTests
{
    private static Model Parse(string text)
    {
        var model = new Model(IrParser.ParseGraph(text));
        model.OpsetImports[""] = 21;
        // The text's result types play the model's declared types (inference cannot know them).
        var declared = new Dictionary<Value, IrType>(ReferenceEqualityComparer.Instance);
        foreach (var v in model.Graph.Inputs) declared[v] = v.Type;
        foreach (var op in model.Graph.Operations)
            foreach (var r in op.Outputs) if (r is not null) declared[r] = r.Type;
        ShapeInference.Run(model.Graph, declared);
        return model;
    }

    private static TensorData Floats(params long[] shape)
    {
        long n = shape.Aggregate(1L, (a, b) => a * b);
        return TensorData.FromFloats(shape, Enumerable.Range(0, (int)n).Select(i => i * 0.5f - 3f).ToArray());
    }

    private static void Agrees(string text, string device, params DataValue[] inputs)
    {
        var expected = new ReferenceEvaluator().Run(Parse(text).Graph, inputs);
        var actual = new CompiledEngine(device).Run(Parse(text), inputs);
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            var e = (TensorData)expected[i];
            var a = (TensorData)actual[i];
            Assert.Equal(e.Shape, a.Shape);
            Assert.True(e.BitwiseEquals(a), $"output {i} differs");
        }
    }

    private static void Refused(string text, string device, string opType, params DataValue[] inputs)
    {
        var e = Assert.Throws<KilnRuntimeException>(() => new CompiledEngine(device).Run(Parse(text), inputs));
        Assert.Equal(StatusCode.InvalidArgument, e.Code);
        Assert.Contains(opType, e.Message);
    }

    private const string Reshape = """
        graph @main(%x: f32[2,3,4], %s: i64[4]) {
          %y = Reshape(%x, %s) : f32[2,3,2,2]
          return %y
        }
        """;

    [Theory]
    [InlineData("sync", new long[] { 2, 3, 2, 2 })]
    [InlineData("task", new long[] { 0, 0, -1, 2 })]
    [InlineData("sync", new long[] { 2, 3, 2, -1 })]
    public void Reshape_with_a_shape_that_gives_the_declared_one(string device, long[] shape) =>
        Agrees(Reshape, device, Floats(2, 3, 4), TensorData.Vector(shape));

    [Theory]
    [InlineData("sync", new long[] { 2, 3, 4, 1 })]
    [InlineData("task", new long[] { 2, -1, -1, 2 })]
    [InlineData("sync", new long[] { 3, 2, 2, 2 })]
    public void Reshape_with_another_shape_is_refused(string device, long[] shape) =>
        Refused(Reshape, device, "Reshape", Floats(2, 3, 4), TensorData.Vector(shape));

    private const string Unsqueeze = """
        graph @main(%x: f32[3,1], %a: i64[2]) {
          %y = Unsqueeze(%x, %a) : f32[1,3,1,1]
          return %y
        }
        """;

    [Theory]
    [InlineData("sync", new long[] { 0, 2 }, true)]
    [InlineData("task", new long[] { 0, -1 }, true)]
    [InlineData("sync", new long[] { 2, 3 }, false)]
    [InlineData("sync", new long[] { 0, 0 }, false)]
    [InlineData("task", new long[] { 0, 4 }, false)]
    public void Unsqueeze_axes_are_checked(string device, long[] axes, bool valid)
    {
        DataValue[] inputs = [Floats(3, 1), TensorData.Vector(axes)];
        if (valid) Agrees(Unsqueeze, device, inputs); else Refused(Unsqueeze, device, "Unsqueeze", inputs);
    }

    private const string Squeeze = """
        graph @main(%x: f32[1,3,1], %a: i64[2]) {
          %y = Squeeze(%x, %a) : f32[3]
          return %y
        }
        """;

    [Theory]
    [InlineData("sync", new long[] { 0, 2 }, true)]
    [InlineData("task", new long[] { -1, 0 }, true)]
    [InlineData("sync", new long[] { 0, 1 }, false)]
    public void Squeeze_axes_are_checked(string device, long[] axes, bool valid)
    {
        DataValue[] inputs = [Floats(1, 3, 1), TensorData.Vector(axes)];
        if (valid) Agrees(Squeeze, device, inputs); else Refused(Squeeze, device, "Squeeze", inputs);
    }

    private const string Expand = """
        graph @main(%x: f32[3,1], %s: i64[2]) {
          %y = Expand(%x, %s) : f32[3,4]
          return %y
        }
        """;

    [Theory]
    [InlineData("sync", new long[] { 3, 4 }, true)]
    [InlineData("task", new long[] { 1, 4 }, true)]
    [InlineData("sync", new long[] { 3, 5 }, false)]
    [InlineData("sync", new long[] { 3, 1 }, false)]
    public void Expand_shape_is_checked(string device, long[] shape, bool valid)
    {
        DataValue[] inputs = [Floats(3, 1), TensorData.Vector(shape)];
        if (valid) Agrees(Expand, device, inputs); else Refused(Expand, device, "Expand", inputs);
    }

    private const string Filled = """
        graph @main(%s: i64[2]) {
          %y = ConstantOfShape(%s) {value = dense<f32[1]>[1.5]} : f32[2,3]
          return %y
        }
        """;

    [Theory]
    [InlineData("sync", new long[] { 2, 3 }, true)]
    [InlineData("task", new long[] { 3, 2 }, false)]
    public void ConstantOfShape_shape_is_checked(string device, long[] shape, bool valid)
    {
        DataValue[] inputs = [TensorData.Vector(shape)];
        if (valid) Agrees(Filled, device, inputs); else Refused(Filled, device, "ConstantOfShape", inputs);
    }

    private const string Split = """
        graph @main(%x: f32[6], %s: i64[2]) {
          %a, %b = Split(%x, %s) : f32[2], f32[4]
          return %a, %b
        }
        """;

    [Theory]
    [InlineData("sync", new long[] { 2, 4 }, true)]
    [InlineData("task", new long[] { 3, 3 }, false)]
    public void Split_sizes_are_checked(string device, long[] sizes, bool valid)
    {
        DataValue[] inputs = [Floats(6), TensorData.Vector(sizes)];
        if (valid) Agrees(Split, device, inputs); else Refused(Split, device, "Split", inputs);
    }

    private const string Tile = """
        graph @main(%x: f32[2,3], %r: i64[2]) {
          %y = Tile(%x, %r) : f32[4,3]
          return %y
        }
        """;

    [Theory]
    [InlineData("sync", new long[] { 2, 1 }, true)]
    [InlineData("task", new long[] { 2, 1 }, true)]
    [InlineData("sync", new long[] { 1, 2 }, false)]
    public void Tile_repeats_are_read_and_checked(string device, long[] repeats, bool valid)
    {
        DataValue[] inputs = [Floats(2, 3), TensorData.Vector(repeats)];
        if (valid) Agrees(Tile, device, inputs); else Refused(Tile, device, "Tile", inputs);
    }

    private const string ReduceKeep = """
        graph @main(%x: f32[2,3,4], %a: i64[1]) {
          %y = ReduceSum(%x, %a) {keepdims = 1} : f32[2,1,4]
          return %y
        }
        """;

    private const string ReduceDrop = """
        graph @main(%x: f32[2,3,4], %a: i64[1]) {
          %y = ReduceSum(%x, %a) {keepdims = 0} : f32[2,4]
          return %y
        }
        """;

    [Theory]
    [InlineData("sync", true, new long[] { 1 }, true)]
    [InlineData("task", true, new long[] { -2 }, true)]
    [InlineData("sync", true, new long[] { 2 }, false)]
    [InlineData("sync", false, new long[] { 1 }, true)]
    [InlineData("task", false, new long[] { 0 }, false)]
    [InlineData("sync", false, new long[] { 3 }, false)]
    public void Reduce_axes_are_checked(string device, bool keepDims, long[] axes, bool valid)
    {
        string text = keepDims ? ReduceKeep : ReduceDrop;
        DataValue[] inputs = [Floats(2, 3, 4), TensorData.Vector(axes)];
        if (valid) Agrees(text, device, inputs); else Refused(text, device, "ReduceSum", inputs);
    }

    private const string Slice = """
        graph @main(%x: f32[4,5], %starts: i64[2], %ends: i64[2], %axes: i64[2], %steps: i64[2]) {
          %y = Slice(%x, %starts, %ends, %axes, %steps) : f32[2,3]
          return %y
        }
        """;

    [Theory]
    [InlineData("sync", new long[] { 1, 0 }, new long[] { 3, 3 }, new long[] { 0, 1 }, new long[] { 1, 1 }, true)]
    [InlineData("task", new long[] { 3, -1 }, new long[] { 1, 1 }, new long[] { 0, 1 }, new long[] { -1, -1 }, true)]
    [InlineData("sync", new long[] { 0, 1 }, new long[] { 3, 3 }, new long[] { 1, -2 }, new long[] { 1, 1 }, true)]
    [InlineData("sync", new long[] { 0, -100 }, new long[] { 4, 100 }, new long[] { 0, 1 }, new long[] { 2, 2 }, true)]
    [InlineData("sync", new long[] { 0, 0 }, new long[] { 3, 3 }, new long[] { 0, 1 }, new long[] { 1, 1 }, false)]
    [InlineData("task", new long[] { 1, 0 }, new long[] { 3, 3 }, new long[] { 0, 1 }, new long[] { 1, 0 }, false)]
    [InlineData("sync", new long[] { 1, 0 }, new long[] { 3, 3 }, new long[] { 0, 0 }, new long[] { 1, 1 }, false)]
    public void Slice_operands_are_read_at_run_time(string device, long[] starts, long[] ends, long[] axes, long[] steps, bool valid)
    {
        DataValue[] inputs = [Floats(4, 5), TensorData.Vector(starts), TensorData.Vector(ends), TensorData.Vector(axes), TensorData.Vector(steps)];
        if (valid) Agrees(Slice, device, inputs); else Refused(Slice, device, "Slice", inputs);
    }

    private const string CropPad = """
        graph @main(%x: f32[4,5], %s: i64[2]) {
          %y = CenterCropPad(%x, %s) : f32[3,8]
          return %y
        }
        """;

    [Theory]
    [InlineData("sync", new long[] { 3, 8 }, true)]
    [InlineData("task", new long[] { 3, 8 }, true)]
    [InlineData("sync", new long[] { 8, 3 }, false)]
    public void CenterCropPad_shape_is_checked(string device, long[] shape, bool valid)
    {
        DataValue[] inputs = [Floats(4, 5), TensorData.Vector(shape)];
        if (valid) Agrees(CropPad, device, inputs); else Refused(CropPad, device, "CenterCropPad", inputs);
    }

    // Sizes nobody declares: the host program computes them from the operand, and one module
    // serves operand values that give different shapes.
    private const string DynamicReduce = """
        graph @main(%x: f32[2,3,4], %a: i64[1]) {
          %s = ReduceSum(%x, %a) {keepdims = 0} : f32[?,?]
          %y = Sqrt(%s) : f32[?,?]
          return %y
        }
        """;

    [Theory]
    [InlineData("sync", new long[] { 0 })]
    [InlineData("task", new long[] { 2 })]
    [InlineData("sync", new long[] { -2 })]
    public void Reduce_over_axes_from_data_gives_shapes_computed_at_run_time(string device, long[] axes) =>
        Agrees(DynamicReduce, device, Floats(2, 3, 4), TensorData.Vector(axes));

    private const string DynamicReshape = """
        graph @main(%x: f32[2,3,4], %s: i64[2]) {
          %r = Reshape(%x, %s) : f32[?,?]
          %y = Relu(%r) : f32[?,?]
          return %y
        }
        """;

    [Theory]
    [InlineData("sync", new long[] { 6, 4 }, true)]
    [InlineData("task", new long[] { 4, -1 }, true)]
    [InlineData("sync", new long[] { 0, -1 }, true)]
    [InlineData("sync", new long[] { 5, -1 }, false)]
    [InlineData("task", new long[] { 6, 5 }, false)]
    public void Reshape_to_a_shape_from_data(string device, long[] shape, bool valid)
    {
        DataValue[] inputs = [Floats(2, 3, 4), TensorData.Vector(shape)];
        if (valid) Agrees(DynamicReshape, device, inputs); else Refused(DynamicReshape, device, "Reshape", inputs);
    }

    [Fact]
    public void One_module_runs_operands_that_give_different_shapes()
    {
        var module = Kiln.Compiler.KilnCompiler.Compile(Parse(DynamicReshape)).Bytes;
        foreach (var shape in new[] { new long[] { 6, 4 }, [3, 8], [-1, 1] })
        {
            DataValue[] inputs = [Floats(2, 3, 4), TensorData.Vector(shape)];
            var expected = (TensorData)new ReferenceEvaluator().Run(Parse(DynamicReshape).Graph, inputs)[0];
            var actual = (TensorData)new CompiledEngine("sync").RunModule(module, inputs)[0];
            Assert.Equal(expected.Shape, actual.Shape);
            Assert.True(expected.BitwiseEquals(actual));
        }
    }
}
