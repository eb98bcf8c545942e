using Kiln.Ir;
using Kiln.Runtime;
using Kiln.Runtime.Kernels.Sampling;
using static Kiln.Tests.Kernels.KernelOracle;

namespace Kiln.Tests.Kernels;

/// <summary>The "deformconv" kernel against the reference: 1 to 3 spatial axes, strides, dilations, pads, groups, offset groups, mask and bias, float64, offsets far outside the input.</summary>
public class DeformConvTests
{
    private static void DeformConv(TensorData x, TensorData w, TensorData offset, TensorData? bias, TensorData? mask, params (string, AttributeValue)[] attributes)
    {
        var o = new KernelOracle();
        o.Op("DeformConv", [o.Input(x), o.Input(w), o.Input(offset), bias is null ? null : o.Input(bias), mask is null ? null : o.Input(mask)], attributes);
        o.Check(1e-5, 1e-6);
    }

    private static TensorData Scaled(TensorData t, float factor) =>
        TensorData.FromFloats(t.Shape, t.Data<float>().Select(v => v * factor).ToArray());

    [Fact]
    public void Two_axes_with_strides_dilations_pads_groups_and_offset_groups() =>
        // x [2, 4, 6, 5], 2 groups, 2 offset groups, kernel 2x3, stride 2x1, dilation 1x2, pads 1,0,1,2: out [2, 6, 4, 3].
        DeformConv(Floats(1, 2, 4, 6, 5), Floats(2, 6, 2, 2, 3), Scaled(Floats(3, 2, 2 * 6 * 2, 4, 3), 3), Floats(4, 6), Floats(5, 2, 2 * 6, 4, 3),
            Ints("kernel_shape", 2, 3), Ints("strides", 2, 1), Ints("dilations", 1, 2), Ints("pads", 1, 0, 1, 2), Int("group", 2), Int("offset_group", 2));

    [Fact]
    public void One_axis_without_bias_or_mask() =>
        DeformConv(Floats(6, 1, 3, 7), Floats(7, 2, 3, 3), Scaled(Floats(8, 1, 3, 5), 4), null, null, Ints("kernel_shape", 3));

    [Fact]
    public void Three_axes_in_float64()
    {
        TensorData F64(int seed, params long[] shape) => Kiln.Ops.Conversions.Convert(Floats(seed, shape), ElementType.Float64);
        DeformConv(F64(9, 1, 2, 3, 3, 3), F64(10, 2, 2, 2, 2, 2), F64(11, 1, 8 * 3, 2, 2, 2), F64(12, 2), null, Ints("kernel_shape", 2, 2, 2));
    }

    [Fact]
    public void Auto_pad_same_upper() =>
        DeformConv(Floats(13, 1, 2, 5, 5), Floats(14, 3, 2, 3, 3), Floats(15, 1, 18, 5, 5), null, Floats(16, 1, 9, 5, 5), String("auto_pad", "SAME_UPPER"));

    [Fact]
    public void Hostile_descriptors_and_counts_are_refused()
    {
        Assert.Throws<KilnRuntimeException>(() => DeformConvKernel.Load(DeformConvKernel.Encode(DType.Float32, 4, false, false), 4, 5 + 24));
        Assert.Throws<KilnRuntimeException>(() => DeformConvKernel.Load(DeformConvKernel.Encode(DType.Int32, 2, false, false), 4, 17));
        Assert.Throws<KilnRuntimeException>(() => DeformConvKernel.Load(DeformConvKernel.Encode(DType.Float32, 2, true, false), 4, 17));
        Assert.NotNull(DeformConvKernel.Load(DeformConvKernel.Encode(DType.Float32, 2, true, true), 6, 17));
    }
}
