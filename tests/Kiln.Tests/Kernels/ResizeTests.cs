using Kiln.Ir;
using Kiln.Ops;
using Kiln.Tests.Kernels.Pool;
using static Kiln.Tests.Kernels.Pool.CompiledVsReference;

namespace Kiln.Tests.Kernels;

/// <summary>
/// The compiled Resize ("resize-nearest", "resize-filter") against the reference evaluator:
/// integer upscales over every row length (the vector shuffle path and its tails), every
/// coordinate transformation and nearest mode, linear and cubic with antialias and
/// exclude_outside, scales and sizes (with aspect policies) as constants or computed at run time,
/// tf_crop_and_resize regions, element types, and symbolic sizes as in PaddleOCR's detector.
/// </summary>
public class ResizeTests
{
    private static TensorData Scales(params float[] s) => TensorData.FromFloats([s.Length], s);
    private static TensorData Sizes(params long[] s) => TensorData.Vector(s);

    public static IEnumerable<object[]> Widths() => Enumerable.Range(1, 24).Select(w => new object[] { w });

    [Theory]
    [MemberData(nameof(Widths))]
    public void IntegerUpscaleOfEveryWidth(int width)
    {
        var r = new Random(width);
        var x = Floats(r, 1, 3, 4, width);
        foreach (float s in new[] { 1f, 2f, 3f, 4f, 8f })
            Check("Resize", [x, null, new Operand(Scales(1, 1, s, s), Constant: true)],
                Attributes(("mode", "nearest"), ("coordinate_transformation_mode", "asymmetric"), ("nearest_mode", "floor")), exact: true);
        Check("Resize", [Random(r, ElementType.UInt8, 1, 2, 3, width), null, new Operand(Scales(1, 1, 2, 2), Constant: true)],
            Attributes(("mode", "nearest")), exact: true);
    }

    [Theory]
    [InlineData("half_pixel")]
    [InlineData("half_pixel_symmetric")]
    [InlineData("pytorch_half_pixel")]
    [InlineData("align_corners")]
    [InlineData("asymmetric")]
    [InlineData("tf_half_pixel_for_nn")]
    public void NearestModesAndTransformations(string transformation)
    {
        var r = new Random(transformation.Length);
        var x = Floats(r, 2, 3, 7, 9);
        foreach (var nearest in new[] { "round_prefer_floor", "round_prefer_ceil", "floor", "ceil" })
            foreach (var scales in new[] { Scales(1, 1, 1.7f, 0.6f), Scales(1, 1, 0.5f, 2.5f) })
                Check("Resize", [x, null, scales], Attributes(("mode", "nearest"), ("coordinate_transformation_mode", transformation), ("nearest_mode", nearest)), exact: true);
    }

    [Theory]
    [InlineData("linear", "half_pixel")]
    [InlineData("linear", "align_corners")]
    [InlineData("linear", "pytorch_half_pixel")]
    [InlineData("linear", "half_pixel_symmetric")]
    [InlineData("cubic", "half_pixel")]
    [InlineData("cubic", "asymmetric")]
    [InlineData("cubic", "align_corners")]
    public void FilterModes(string mode, string transformation)
    {
        var r = new Random(mode.Length + transformation.Length);
        var x = Floats(r, 2, 3, 9, 13);
        foreach (var scales in new[] { Scales(1, 1, 2, 3), Scales(1, 1, 0.5f, 0.7f), Scales(1, 2, 1.5f, 1) })
        {
            var attributes = Attributes(("mode", mode), ("coordinate_transformation_mode", transformation));
            Check("Resize", [x, null, new Operand(scales, Constant: true)], attributes, exact: true);
            Check("Resize", [x, null, scales], attributes, exact: true);
            Check("Resize", [x, null, scales], Attributes(("mode", mode), ("coordinate_transformation_mode", transformation), ("antialias", 1L)), exact: true);
            Check("Resize", [x, null, scales], Attributes(("mode", mode), ("coordinate_transformation_mode", transformation), ("exclude_outside", 1L), ("cubic_coeff_a", -0.5f)), exact: true);
        }
    }

    [Theory]
    [InlineData("stretch")]
    [InlineData("not_larger")]
    [InlineData("not_smaller")]
    public void SizesAndAspectPolicies(string policy)
    {
        var r = new Random(policy.Length);
        var x = Floats(r, 1, 2, 6, 8);
        foreach (bool constant in new[] { true, false })
            foreach (var mode in new[] { "nearest", "linear" })
            {
                var attributes = Attributes(("mode", mode), ("keep_aspect_ratio_policy", policy), ("axes", new long[] { 2, 3 }));
                Check("Resize", [x, null, null, new Operand(Sizes(9, 5), constant)], attributes, exact: true);
                Check("Resize", [x, null, null, new Operand(Sizes(3, 17), constant)], attributes, exact: true);
            }
    }

    [Fact]
    public void CropAndResize()
    {
        var r = new Random(12);
        var x = Floats(r, 1, 2, 7, 8);
        var roi = TensorData.FromFloats([4], [0.2f, -0.3f, 0.9f, 1.4f]);
        foreach (var mode in new[] { "nearest", "linear", "cubic" })
            foreach (bool constant in new[] { true, false })
            {
                var attributes = Attributes(("mode", mode), ("coordinate_transformation_mode", "tf_crop_and_resize"), ("axes", new long[] { 3, 2 }), ("extrapolation_value", 7.5f));
                Check("Resize", [x, new Operand(roi, constant), null, new Operand(Sizes(6, 5), constant)], attributes, exact: true);
            }
    }

    [Theory]
    [InlineData(ElementType.Float16)]
    [InlineData(ElementType.Float64)]
    [InlineData(ElementType.Int32)]
    [InlineData(ElementType.Int64)]
    [InlineData(ElementType.Bool)]
    public void ElementTypes(ElementType type)
    {
        var r = new Random(13);
        var x = Random(r, type, 1, 2, 5, 6);
        Check("Resize", [x, null, Scales(1, 1, 1.5f, 2)], Attributes(("mode", "nearest")), exact: true);
        if (type != ElementType.Bool) Check("Resize", [x, null, Scales(1, 1, 1.5f, 2)], Attributes(("mode", "linear")), exact: type != ElementType.Float16, rtol: 1e-3);
    }

    /// <summary>PaddleOCR's detector: 2x, 4x and 8x nearest upsampling of maps with symbolic sizes.</summary>
    [Fact]
    public void SymbolicSizesWithConstantScales()
    {
        var r = new Random(14);
        var declared = new Dim[] { Dim.Symbol("N"), 3, Dim.Symbol("H"), Dim.Symbol("W") };
        foreach (var shape in new long[][] { [1, 3, 5, 7], [2, 3, 20, 21], [0, 3, 4, 4] })
            foreach (float s in new[] { 2f, 4f, 8f })
            {
                var x = new Operand(Floats(r, shape), Declared: declared);
                var scales = new Operand(Scales(1, 1, s, s), Constant: true);
                Check("Resize", [x, new Operand(TensorData.FromFloats([0], []), Constant: true), scales],
                    Attributes(("mode", "nearest"), ("coordinate_transformation_mode", "asymmetric"), ("nearest_mode", "floor")), exact: true);
                Check("Resize", [x, null, scales], Attributes(("mode", "linear")), exact: true);
            }
    }

    [Fact]
    public void RunTimeScalesMustGiveTheCompiledShape()
    {
        var x = Floats(new Random(15), 1, 1, 4, 4);
        // Compiled for scales that double H and W (the declared result is [1, 1, 8, 8]), run with scales that triple them.
        var g = Build("Resize", [x, null, Scales(1, 1, 2, 2)], Attributes(("mode", "nearest")), 1, out _, [new TensorType(ElementType.Float32, Shape.Of(1, 1, 8, 8))]);
        var compiled = Kiln.Compiler.KilnCompiler.Compile(new Model(g));
        using var module = Kiln.Runtime.Module.Load(compiled.Bytes);
        using var device = Kiln.Conformance.CompiledEngine.CreateDevice("sync");
        using var context = new Kiln.Runtime.Vm.Instance().CreateContext(module, device);
        using var xv = Kiln.Conformance.CompiledEngine.ToView(x, 0);
        using var sv = Kiln.Conformance.CompiledEngine.ToView(Scales(1, 1, 3, 3), 1);
        var e = Assert.ThrowsAny<Exception>(() => context.GetFunction("main").Invoke([xv, sv]));
        Assert.Contains("compiled program expects 8", e.Message);
    }

    /// <summary>Sizes the model computes from its input's symbolic shape (Shape, Slice, Mul, Concat): the kernel reads them at run time.</summary>
    [Fact]
    public void SizesComputedFromSymbolicShapes()
    {
        var g = new Graph();
        var x = g.AddInput("x", new TensorType(ElementType.Float32, new Shape([Dim.Symbol("N"), 2, Dim.Symbol("H"), Dim.Symbol("W")])));
        Value Constant(string name, TensorData t) => g.AddOperation("Constant", [], [name],
            new Dictionary<string, AttributeValue> { ["value"] = AttributeValue.Tensor(t) }, outputTypes: [t.Type]).Output(0);
        var shape = g.AddOperation("Shape", [x], ["shape"]).Output(0);
        var head = g.AddOperation("Slice", [shape, Constant("s0", TensorData.Vector(0)), Constant("e0", TensorData.Vector(2))], ["head"]).Output(0);
        var spatial = g.AddOperation("Slice", [shape, Constant("s1", TensorData.Vector(2)), Constant("e1", TensorData.Vector(4))], ["spatial"]).Output(0);
        var doubled = g.AddOperation("Mul", [spatial, Constant("two", TensorData.Vector(2))], ["doubled"]).Output(0);
        var sizes = g.AddOperation("Concat", [head, doubled], ["sizes"], Attributes(("axis", 0L))).Output(0);
        var y = g.AddOperation("Resize", [x, null, null, sizes], ["y"], Attributes(("mode", "linear"))).Output(0);
        g.AddOutput(y);
        ShapeInference.Run(g);
        Assert.True(y.TensorType.Shape.Dims.All(d => !d.IsUnknown), $"the result's shape {y.TensorType.Shape} should be symbolic, not unknown");
        var compiled = Kiln.Compiler.KilnCompiler.Compile(new Model(g));
        using var module = Kiln.Runtime.Module.Load(compiled.Bytes);
        var r = new Random(16);
        foreach (var dims in new long[][] { [1, 2, 3, 5], [2, 2, 6, 4] })
        {
            var input = Floats(r, dims);
            var expected = (TensorData)new ReferenceEvaluator().Run(g, [input])[0];
            foreach (var name in new[] { "sync", "task" })
            {
                using var device = Kiln.Conformance.CompiledEngine.CreateDevice(name);
                using var context = new Kiln.Runtime.Vm.Instance().CreateContext(module, device);
                using var view = Kiln.Conformance.CompiledEngine.ToView(input, 0);
                var actual = Kiln.Conformance.CompiledEngine.FromView(context.GetFunction("main").Invoke([view])[0]);
                Assert.True(expected.BitwiseEquals(actual) && expected.Shape.AsSpan().SequenceEqual(actual.Shape), $"{name}: {string.Join(",", actual.Shape)}");
            }
        }
    }
}
