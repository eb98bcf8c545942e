using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime;
using Kiln.Runtime.Kernels.Gemm;

namespace Kiln.Compiler.Lowering.Gemm;

/// <summary>
/// Conv (1 to 3 spatial axes, groups, strides, dilations, pads, auto_pad) as a "conv" dispatch
/// (implicit-GEMM) or, for 2-D depthwise convolutions, a "conv.depthwise" dispatch. Constant
/// weights are packed at compile time into the kernel's layout; the bias and any fused elementwise
/// work run in the kernel's epilogue. float16 and the other small floats are computed in float32
/// like the reference (converted in, rounded once on the way out).
/// </summary>
[Lowerings]
public static class ConvLowering
{
    public static void Register(LoweringRegistry r) => r.Add("Conv", ctx => Lower(ctx, new EpiloguePlan()));

    /// <summary>Conv followed by an epilogue (from a fusion pass; float32 only when non-empty).</summary>
    public static void Lower(LoweringContext ctx, EpiloguePlan fused) => LowerInFloat32(ctx, fused, Emit);

    /// <summary>Emits a convolution into <c>y</c> from float32 operands (<c>inputs</c>, and the weights when constant).</summary>
    internal delegate void ConvEmitter(LoweringContext ctx, TensorRef y, EpiloguePlan fused, Func<int, TensorRef> inputs, TensorData? weights);

    /// <summary>
    /// Runs a float32 convolution emitter for any float type: float32 directly; float16 and the other
    /// small floats widened to float32 (operands converted once each) and rounded once on the way out.
    /// </summary>
    internal static void LowerInFloat32(LoweringContext ctx, EpiloguePlan fused, ConvEmitter emit)
    {
        var et = ctx.InputElementType(0);
        var y = ctx.NewOutput(0);
        if (y.ElementCount.TryGetValue(out long count) && count == 0) return;
        if (et == ElementType.Float32)
        {
            emit(ctx, y, fused, ctx.Input, ctx.Constant(1));
            return;
        }
        if (fused.Stages.Count > 0) throw new InvalidOperationException("epilogues are fused into float32 convolutions only");
        if (!et.IsSmallFloat()) throw ctx.Unsupported($"convolutions of {et.OnnxName()}");
        var widened = new Dictionary<int, TensorRef>();
        TensorRef Widened(int i) => widened.TryGetValue(i, out var t) ? t : widened[i] = Casts.To(ctx, ctx.Input(i), DType.Float32);
        var temp = ctx.NewTemporary(DType.Float32, y.Shape);
        emit(ctx, temp, fused, Widened, ctx.Constant(1) is { } w ? Conversions.ToFloat32(w) : null);
        Casts.Copy(ctx, temp, y);
    }

    private static void Emit(LoweringContext ctx, TensorRef y, EpiloguePlan fused, Func<int, TensorRef> inputs, TensorData? weights)
    {
        var x = ctx.InputShape(0);
        var w = ctx.InputShape(1);
        int rank = x.Length - 2;
        if (rank is < 1 or > ConvWindow.Axes) throw ctx.Unsupported($"{rank} spatial axes (1 to 3 supported)");
        var kernel = w.Skip(2).Select(d => d.TryGetValue(out long v) ? v : throw ctx.Unsupported("a kernel size known only at run time")).ToArray();
        if (!w[1].TryGetValue(out long channelsPerGroup) || !w[0].TryGetValue(out long filters)) throw ctx.Unsupported("weights of a size known only at run time");
        long groups = ctx.Op.GetInt("group", 1);
        var attributes = WindowAttributes.Read(ctx.Op, rank, kernel);
        var geometry = Resolve(attributes, x, y.Shape);

        var plan = new EpiloguePlan();
        if (ctx.HasInput(2)) plan.AddOperand(EpilogueOp.Add, new EpilogueOperand(inputs(2), 0, 1, 0));
        plan = plan.Then(fused);
        var window = new ConvWindow(rank, Ints(kernel), Ints(attributes.Strides), Ints(attributes.Dilations));
        long filtersPerGroup = filters / groups;

        if (DepthwiseLowering.Applies(rank, channelsPerGroup, groups, window))
        {
            DepthwiseLowering.Emit(ctx, inputs(0), y, window, geometry, (int)filtersPerGroup, inputs, plan);
            return;
        }

        TensorRef packedOrPlain;
        bool prepacked = weights is not null;
        if (weights is not null) packedOrPlain = ctx.NewConstant(PackWeights(weights, (int)groups, (int)filtersPerGroup));
        else packedOrPlain = inputs(1);
        var epilogue = plan.Build();
        var constants = new List<Dim> { x[0] };
        constants.AddRange(geometry.Input);
        constants.AddRange(geometry.Output);
        constants.AddRange(geometry.PadBegin);
        constants.AddRange(plan.Constants());
        var spec = new KernelSpec(ConvKernel.KernelName,
            ConvKernel.Encode(prepacked, (int)channelsPerGroup, (int)filtersPerGroup, (int)groups, window, epilogue),
            3 + epilogue.OperandCount, constants.Count);
        ctx.Dispatch(spec, [inputs(0), packedOrPlain, .. plan.Operands.Select(o => o.Tensor)], [y], constants);
    }

    /// <summary>Sizes of a convolution on symbolic shapes: input and output spatial sizes and the begin pads.</summary>
    public sealed record SpatialSizes(Dim[] Input, Dim[] Output, Dim[] PadBegin);

    /// <summary>The begin pads of each axis (explicit, or derived from auto_pad and the sizes, symbolically when needed).</summary>
    public static SpatialSizes Resolve(WindowAttributes w, Dim[] x, Dim[] y)
    {
        int rank = w.SpatialRank;
        var input = x[2..];
        var output = y[2..];
        var pads = new Dim[rank];
        for (int a = 0; a < rank; a++)
        {
            pads[a] = w.AutoPad switch
            {
                AutoPad.Valid => 0,
                AutoPad.SameUpper or AutoPad.SameLower => SamePadBegin(w, input[a], output[a], a),
                _ => w.Pads[a],
            };
        }
        return new SpatialSizes(input, output, pads);
    }

    private static Dim SamePadBegin(WindowAttributes w, Dim input, Dim output, int axis)
    {
        Dim total = Dim.Max(0, (output - 1) * w.Strides[axis] + w.DilatedKernel(axis) - input);
        Dim small = total / 2;
        return w.AutoPad == AutoPad.SameUpper ? small : total - small;
    }

    /// <summary>W [M, C/groups, kernel...] as row panels per group: [group][panel][C/groups · taps][6].</summary>
    private static TensorData PackWeights(TensorData w, int groups, int filtersPerGroup)
    {
        var source = w.Data<float>();
        long depth = w.ElementCount / Math.Max(1, w.Shape[0]);
        long perGroup = PanelLayout.PackedLength(filtersPerGroup, depth, PanelLayout.Rows);
        var packed = new float[groups * perGroup];
        for (int g = 0; g < groups; g++)
            PanelLayout.Pack(source, g * filtersPerGroup * depth, depth, 1, filtersPerGroup, (int)depth, PanelLayout.Rows, packed.AsSpan((int)(g * perGroup), (int)perGroup));
        return TensorData.FromFloats([packed.LongLength], packed);
    }

    public static int[] Ints(long[] values) => values.Select(v => checked((int)v)).ToArray();
}
