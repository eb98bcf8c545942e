using Kiln.Ir;
using Kiln.Runtime;
using Kiln.Runtime.Kernels.Signal;

namespace Kiln.Compiler.Lowering.Signal;

/// <summary>
/// The signal operators, one dispatch each: DFT ("dft"), STFT ("stft"), the Hann, Hamming and
/// Blackman windows ("window") and MelWeightMatrix ("melweights"). Their scalar operands (dft_length, axis, frame_step,
/// frame_length, size, num_mel_bins) may be data: the results then take their shapes from the model's declared
/// types, and the kernels read the operands and refuse any that would give another shape.
/// </summary>
[Lowerings]
public static class SignalLowering
{
    public static void Register(LoweringRegistry r)
    {
        r.Add("DFT", LowerDft);
        r.Add("STFT", LowerStft);
        r.Add("HannWindow", ctx => LowerWindow(ctx, WindowKernel.Kind.Hann));
        r.Add("HammingWindow", ctx => LowerWindow(ctx, WindowKernel.Kind.Hamming));
        r.Add("BlackmanWindow", ctx => LowerWindow(ctx, WindowKernel.Kind.Blackman));
        r.Add("MelWeightMatrix", LowerMelWeights);
    }

    private static DType? OptionalIndexType(LoweringContext ctx, int i) =>
        ctx.HasInput(i) ? ScalarType(ctx, i) : null;

    private static DType ScalarType(LoweringContext ctx, int i)
    {
        var t = LoweringContext.DTypeOf(ctx.InputElementType(i));
        return t is DType.Int32 or DType.Int64 ? t : throw ctx.Unsupported($"operand {i} must be int32 or int64, got {t.Name()}");
    }

    private static bool IsFloat(DType t) => t is DType.Float32 or DType.Float64 or DType.Float16 or DType.BFloat16;

    private static void LowerDft(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        if (!IsFloat(x.DType)) throw ctx.Unsupported($"a signal of {x.DType.Name()} elements");
        if (x.Rank < 2) throw ctx.Unsupported("the signal needs a signal axis and a trailing re/im axis");
        if (x.Rank > 8) throw ctx.Unsupported($"a signal of rank {x.Rank} (the kernel takes up to 8)");
        var y = ctx.NewOutput(0);
        bool inverse = ctx.Op.GetInt("inverse", 0) != 0, onesided = ctx.Op.GetInt("onesided", 0) != 0;
        DType? lengthType = OptionalIndexType(ctx, 1), axisType = OptionalIndexType(ctx, 2);
        var inputs = new List<TensorRef> { x };
        if (lengthType is not null) inputs.Add(ctx.Input(1));
        if (axisType is not null) inputs.Add(ctx.Input(2));
        var descriptor = DftKernel.Encode(x.DType, x.Rank, inverse, onesided, lengthType, axisType);
        ctx.Dispatch(new KernelSpec(DftKernel.KernelName, descriptor, inputs.Count + 1, 2 * x.Rank), inputs, [y], [.. x.Shape, .. y.Shape]);
    }

    private static void LowerStft(LoweringContext ctx)
    {
        var signal = ctx.Input(0);
        if (!IsFloat(signal.DType)) throw ctx.Unsupported($"a signal of {signal.DType.Name()} elements");
        if (signal.Rank != 3) throw ctx.Unsupported("the signal must be [batch, length, 1 or 2]");
        var window = ctx.OptionalInput(2);
        if (window is not null && (window.Rank != 1 || window.DType != signal.DType)) throw ctx.Unsupported("the window must be a vector of the signal's element type");
        var y = ctx.NewOutput(0);
        DType? lengthType = OptionalIndexType(ctx, 3);
        var inputs = new List<TensorRef> { signal, ctx.Input(1) };
        if (window is not null) inputs.Add(window);
        if (lengthType is not null) inputs.Add(ctx.Input(3));
        var descriptor = StftKernel.Encode(signal.DType, ctx.Op.GetInt("onesided", 1) != 0, ScalarType(ctx, 1), window is not null, lengthType);
        Dim[] constants = [signal.Shape[0], signal.Shape[1], signal.Shape[2], window?.Shape[0] ?? 0, y.Shape[1], y.Shape[2]];
        ctx.Dispatch(new KernelSpec(StftKernel.KernelName, descriptor, inputs.Count + 1, 6), inputs, [y], constants);
    }

    private static bool IsNumeric(DType t) => IsFloat(t) || t is DType.Int8 or DType.UInt8 or DType.Int16 or DType.UInt16
        or DType.Int32 or DType.UInt32 or DType.Int64 or DType.UInt64 or DType.Bool;

    private static void LowerMelWeights(LoweringContext ctx)
    {
        var y = ctx.NewOutput(0);
        if (!IsNumeric(y.DType)) throw ctx.Unsupported($"a matrix of {y.DType.Name()} elements");
        var intType = ScalarType(ctx, 0);
        if (ScalarType(ctx, 1) != intType || ScalarType(ctx, 2) != intType) throw ctx.Unsupported("num_mel_bins, dft_length and sample_rate must have one type");
        var edgeType = ctx.Input(3).DType;
        if (!IsFloat(edgeType) || ctx.Input(4).DType != edgeType) throw ctx.Unsupported("the edge frequencies must have one float type");
        var descriptor = MelWeightsKernel.Encode(intType, edgeType, y.DType);
        TensorRef[] inputs = [ctx.Input(0), ctx.Input(1), ctx.Input(2), ctx.Input(3), ctx.Input(4)];
        ctx.Dispatch(new KernelSpec(MelWeightsKernel.KernelName, descriptor, 6, 2), inputs, [y], [y.Shape[0], y.Shape[1]]);
    }

    private static void LowerWindow(LoweringContext ctx, WindowKernel.Kind kind)
    {
        var y = ctx.NewOutput(0);
        if (!IsNumeric(y.DType)) throw ctx.Unsupported($"a window of {y.DType.Name()} elements");
        var descriptor = WindowKernel.Encode(kind, ctx.Op.GetInt("periodic", 1) != 0, ScalarType(ctx, 0), y.DType);
        ctx.Dispatch(new KernelSpec(WindowKernel.KernelName, descriptor, 2, 1), [ctx.Input(0)], [y], [y.Shape[0]]);
    }
}
