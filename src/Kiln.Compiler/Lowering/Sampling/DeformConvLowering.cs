using Kiln.Compiler.Lowering.Gemm;
using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime.Kernels.Sampling;

namespace Kiln.Compiler.Lowering.Sampling;

/// <summary>
/// DeformConv: one dispatch of the "deformconv" kernel, the window (strides, dilations, begin pads,
/// auto_pad) resolved as for Conv; the kernel checks every operand's size at run time.
/// </summary>
[Lowerings]
public static class DeformConvLowering
{
    public static void Register(LoweringRegistry r) => r.Add("DeformConv", Lower);

    private static void Lower(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        var w = ctx.Input(1);
        int rank = x.Rank - 2;
        if (rank is < 1 or > 3) throw ctx.Unsupported($"{rank} spatial axes (1 to 3 supported)");
        var kernel = w.Shape.Skip(2).Select(d => d.TryGetValue(out long v) ? v : throw ctx.Unsupported("a kernel size known only at run time")).ToArray();
        var y = ctx.NewOutput(0);
        var window = WindowAttributes.Read(ctx.Op, rank, kernel);
        var sizes = ConvLowering.Resolve(window, x.Shape, y.Shape);
        var bias = ctx.OptionalInput(3);
        var mask = ctx.OptionalInput(4);
        var constants = new List<Dim> { x.Shape[0], x.Shape[1], w.Shape[0], ctx.Op.GetInt("group", 1), ctx.Op.GetInt("offset_group", 1) };
        for (int a = 0; a < rank; a++)
            constants.AddRange([sizes.Input[a], kernel[a], sizes.Output[a], window.Strides[a], sizes.PadBegin[a], window.Dilations[a]]);
        var inputs = new List<TensorRef> { x, w, ctx.Input(2) };
        if (bias is not null) inputs.Add(bias);
        if (mask is not null) inputs.Add(mask);
        var spec = new KernelSpec(DeformConvKernel.KernelName, DeformConvKernel.Encode(x.DType, rank, bias is not null, mask is not null),
            DeformConvKernel.BindingCount(bias is not null, mask is not null), DeformConvKernel.ConstantCount(rank));
        ctx.Dispatch(spec, inputs, [y], constants);
    }
}
