using Kiln.Ir;
using Kiln.Tests.Kernels.Pool;
using static Kiln.Tests.Kernels.Pool.CompiledVsReference;

namespace Kiln.Tests.Kernels;

/// <summary>
/// The compiled sampling kernels ("grid-sample", "affine-grid", "max-unpool", "roi-align",
/// "col2im") against the reference evaluator: every mode and padding, grids reaching beyond the
/// input, 1-D to 3-D, run-time shape tensors, and the checks that reject bad indices.
/// </summary>
public class SamplingTests
{
    [Theory]
    [InlineData("linear")]
    [InlineData("nearest")]
    [InlineData("cubic")]
    public void GridSampleModesAndPaddings(string mode)
    {
        var r = new Random(mode.Length);
        foreach (var padding in new[] { "zeros", "border", "reflection" })
            foreach (long align in new long[] { 0, 1 })
            {
                var attributes = Attributes(("mode", mode), ("padding_mode", padding), ("align_corners", align));
                // Grid positions in [-1.5, 1.5]: a quarter of them fall outside the input.
                Check("GridSample", [Floats(r, 2, 3, 5, 7), Scaled(Floats(r, 2, 4, 6, 2), 0.75)], attributes);
                if (mode != "cubic") Check("GridSample", [Floats(r, 1, 2, 4, 5, 3), Scaled(Floats(r, 1, 3, 2, 4, 3), 0.75)], attributes);
            }
        Check("GridSample", [Random(r, ElementType.Float64, 1, 2, 6), Scaled(Random(r, ElementType.Float64, 1, 9, 1), 0.75)], Attributes(("mode", mode)));
    }

    private static TensorData Scaled(TensorData t, double factor) =>
        Kiln.Ops.Conversions.Convert(new TensorData(ElementType.Float64, t.Shape, Enumerable.Range(0, (int)t.ElementCount).Select(i => t.GetDouble(i) * factor).ToArray()), t.ElementType);

    [Theory]
    [InlineData(0L)]
    [InlineData(1L)]
    public void AffineGrid(long align)
    {
        var r = new Random(3);
        Check("AffineGrid", [Floats(r, 2, 2, 3), TensorData.Vector(2, 3, 5, 7)], Attributes(("align_corners", align)));
        Check("AffineGrid", [Floats(r, 1, 3, 4), new Operand(TensorData.Vector(1, 1, 3, 1, 4), Constant: true)], Attributes(("align_corners", align)));
    }

    [Fact]
    public void MaxUnpoolInvertsMaxPool()
    {
        var r = new Random(4);
        var x = Floats(r, 2, 3, 8, 8);
        var pooled = new Kiln.Ops.ReferenceEvaluator().Run(Build("MaxPool", [x], Attributes(("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2, 2 })), 2, out var inputs), inputs);
        var window = Attributes(("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2, 2 }));
        Check("MaxUnpool", [(TensorData)pooled[0], (TensorData)pooled[1]], window, exact: true);
        Check("MaxUnpool", [(TensorData)pooled[0], (TensorData)pooled[1], TensorData.Vector(2, 3, 9, 10)], window, exact: true);
    }

    [Fact]
    public void MaxUnpoolRejectsIndicesOutsideTheUnpooledTensor()
    {
        var values = TensorData.FromFloats([1, 1, 1, 2], [1, 2]);
        var indices = TensorData.FromInt64s([1, 1, 1, 2], [3, 9]);
        var g = Build("MaxUnpool", [values, indices], Attributes(("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2, 2 })), 1, out var runtime);
        var compiled = Kiln.Compiler.KilnCompiler.Compile(new Model(g));
        using var module = Kiln.Runtime.Module.Load(compiled.Bytes);
        using var device = Kiln.Conformance.CompiledEngine.CreateDevice("sync");
        using var context = new Kiln.Runtime.Vm.Instance().CreateContext(module, device);
        var views = runtime.Select((v, i) => Kiln.Conformance.CompiledEngine.ToView(v, i)).ToArray();
        var e = Assert.ThrowsAny<Exception>(() => context.GetFunction("main").Invoke(views));
        Assert.Contains("outside the unpooled tensor", e.Message);
        foreach (var v in views) v.Dispose();
    }

    [Theory]
    [InlineData("avg", "half_pixel", 0L)]
    [InlineData("avg", "output_half_pixel", 2L)]
    [InlineData("max", "half_pixel", 2L)]
    [InlineData("max", "output_half_pixel", 0L)]
    public void RoiAlign(string mode, string transformation, long samplingRatio)
    {
        var r = new Random(5);
        var x = Floats(r, 2, 3, 10, 12);
        var rois = TensorData.FromFloats([4, 4], [0, 0, 9, 9, 2.5f, 1.2f, 7.1f, 8.8f, -2, -1, 4, 3, 8, 6, 14, 13]);
        var batch = TensorData.FromInt64s([4], [0, 1, 1, 0]);
        Check("RoiAlign", [x, rois, batch], Attributes(("mode", mode), ("coordinate_transformation_mode", transformation),
            ("sampling_ratio", samplingRatio), ("output_height", 3L), ("output_width", 4L), ("spatial_scale", 0.8f)));
    }

    [Fact]
    public void Col2Im()
    {
        var r = new Random(6);
        // [N, C * 2 * 3, L] into 2 channels of 6 x 7 with stride 1, dilation [1, 2], pads [1, 0, 0, 1]: L = 6 * 4.
        var attributes = Attributes(("dilations", new long[] { 1, 2 }), ("pads", new long[] { 1, 0, 0, 1 }));
        Check("Col2Im", [Floats(r, 2, 12, 24), TensorData.Vector(6, 7), TensorData.Vector(2, 3)], attributes);
        Check("Col2Im", [Floats(r, 1, 12, 9), new Operand(TensorData.Vector(6, 7), Constant: true), new Operand(TensorData.Vector(2, 3), Constant: true)],
            Attributes(("strides", new long[] { 2, 2 })));
        Check("Col2Im", [Floats(r, 1, 8, 8), TensorData.Vector(3, 3, 3), TensorData.Vector(2, 2, 2)]);
    }
}
