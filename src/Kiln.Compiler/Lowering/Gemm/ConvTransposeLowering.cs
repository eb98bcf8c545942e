using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime;
using Kiln.Runtime.Kernels.Gemm;

namespace Kiln.Compiler.Lowering.Gemm;

/// <summary>
/// ConvTranspose (1 to 3 spatial axes, groups, strides, dilations, pads, auto_pad, output_padding,
/// output_shape) as a "conv.transpose" dispatch: constant weights are transposed and packed at
/// compile time, the bias runs in the epilogue. The output sizes come from shape inference; the
/// begin pads follow the reference (explicit pads, or split from auto_pad with the odd unit at the
/// end for SAME_UPPER). Small floats are computed in float32 like the reference.
/// </summary>
[Lowerings]
public static class ConvTransposeLowering
{
    public static void Register(LoweringRegistry r) => r.Add("ConvTranspose", ctx => Lower(ctx, new EpiloguePlan()));

    public static void Lower(LoweringContext ctx, EpiloguePlan fused) => ConvLowering.LowerInFloat32(ctx, fused, Emit);

    private static void Emit(LoweringContext ctx, TensorRef y, EpiloguePlan fused, Func<int, TensorRef> inputs, TensorData? weights)
    {
        var x = ctx.InputShape(0);
        var w = ctx.InputShape(1);
        int rank = x.Length - 2;
        if (rank is < 1 or > ConvWindow.Axes) throw ctx.Unsupported($"{rank} spatial axes (1 to 3 supported)");
        var kernel = w.Skip(2).Select(d => d.TryGetValue(out long v) ? v : throw ctx.Unsupported("a kernel size known only at run time")).ToArray();
        if (!w[0].TryGetValue(out long channels) || !w[1].TryGetValue(out long filtersPerGroup)) throw ctx.Unsupported("weights of a size known only at run time");
        long groups = ctx.Op.GetInt("group", 1);
        var attributes = WindowAttributes.Read(ctx.Op, rank, kernel);
        var outputPadding = ctx.Op.GetInts("output_padding") ?? new long[rank];
        var input = x[2..];
        var output = y.Shape[2..];
        var pads = new Dim[rank];
        for (int a = 0; a < rank; a++)
        {
            if (attributes.AutoPad is AutoPad.SameUpper or AutoPad.SameLower)
            {
                Dim full = (input[a] - 1) * attributes.Strides[a] + outputPadding[a] + attributes.DilatedKernel(a);
                Dim total = full - output[a];
                Dim half = total / 2;
                pads[a] = attributes.AutoPad == AutoPad.SameUpper ? half : total - half;
            }
            else pads[a] = attributes.AutoPad == AutoPad.Valid ? 0 : attributes.Pads[a];
        }

        var plan = new EpiloguePlan();
        if (ctx.HasInput(2)) plan.AddOperand(EpilogueOp.Add, new EpilogueOperand(inputs(2), 0, 1, 0));
        plan = plan.Then(fused);
        var window = new ConvWindow(rank, ConvLowering.Ints(kernel), ConvLowering.Ints(attributes.Strides), ConvLowering.Ints(attributes.Dilations));
        long channelsPerGroup = channels / groups;
        bool prepacked = weights is not null;
        var w1 = weights is not null ? ctx.NewConstant(PackWeights(weights, (int)groups, (int)channelsPerGroup, (int)filtersPerGroup, window.Taps)) : inputs(1);
        var epilogue = plan.Build();
        var constants = new List<Dim> { x[0] };
        constants.AddRange(input);
        constants.AddRange(output);
        constants.AddRange(pads);
        constants.AddRange(plan.Constants());
        var spec = new KernelSpec(ConvTransposeKernel.KernelName,
            ConvTransposeKernel.Encode(prepacked, (int)channelsPerGroup, (int)filtersPerGroup, (int)groups, window, epilogue),
            3 + epilogue.OperandCount, constants.Count);
        ctx.Dispatch(spec, [inputs(0), w1, .. plan.Operands.Select(o => o.Tensor)], [y], constants);
    }

    /// <summary>Wᵀ per group as row panels: rows (m, tap) over the group's channels, [group][panel][channel][6].</summary>
    private static TensorData PackWeights(TensorData w, int groups, int channelsPerGroup, int filtersPerGroup, int taps)
    {
        var source = w.Data<float>();
        int rows = filtersPerGroup * taps;
        long perGroup = ConvTransposeKernel.PackedGroupLength(channelsPerGroup, filtersPerGroup, taps);
        var packed = new float[groups * perGroup];
        for (int g = 0; g < groups; g++)
            PanelLayout.Pack(source, (long)g * channelsPerGroup * rows, 1, rows, rows, channelsPerGroup, PanelLayout.Rows,
                packed.AsSpan((int)(g * perGroup), (int)perGroup));
        return TensorData.FromFloats([packed.LongLength], packed);
    }
}
