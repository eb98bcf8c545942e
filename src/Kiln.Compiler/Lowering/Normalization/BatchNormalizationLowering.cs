using Kiln.Compiler.Lowering.Elementwise;
using Kiln.Ir;
using Kiln.Runtime;
using Kiln.Runtime.Kernels.Elementwise;
using Kiln.Runtime.Kernels.Normalization;

namespace Kiln.Compiler.Lowering.Normalization;

/// <summary>
/// BatchNormalization. Inference is elementwise along the channel axis: with constant
/// parameters they fold at compile time into a per-channel scale a = scale / sqrt(var + ε) and
/// shift b = B − mean·a, and the program is one multiply-add y = x·a + b in x's compute type;
/// with parameters given at run time the program computes (x − mean) / sqrt(var + ε)·scale + B
/// itself, in float64 as the reference does. Training mode takes the batch statistics from a "normalize"
/// dispatch (each channel a group over N and the spatial axes) and updates the running ones.
/// </summary>
[Lowerings]
public static class BatchNormalizationLowering
{
    public static void Register(LoweringRegistry r) => r.Add("BatchNormalization", Lower);

    private static void Lower(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Rank < 2) throw ctx.Unsupported($"rank {x.Rank} input");
        if (!ctx.InputElementType(0).IsFloat()) throw ctx.Unsupported($"{x.DType.Name()} input");
        for (int i = 1; i <= 4; i++)
            if (ctx.Input(i).Rank != 1 || ctx.Input(i).Shape[0] != x.Shape[1])
                throw new KilnException(ErrorCode.InvalidModel, $"{ctx.Op.Describe()}: input {i} must have shape [{x.Shape[1]}] (one value per channel)");
        double epsilon = ctx.Op.GetFloat("epsilon", 1e-5f);
        if (ctx.Op.GetInt("training_mode", 0) != 0) LowerTraining(ctx, x, epsilon);
        else if (Enumerable.Range(1, 4).All(i => ctx.Constant(i) is not null)) LowerFolded(ctx, x, epsilon);
        else LowerInference(ctx, x, epsilon);
    }

    /// <summary>Strides that read a per-channel vector at every element of x.</summary>
    private static StridedView PerChannel(TensorRef p, TensorRef x) =>
        new(p, 0, x.Shape.Select((_, a) => (Dim)(a == 1 ? 1 : 0)).ToArray());

    private static void LowerFolded(LoweringContext ctx, TensorRef x, double epsilon)
    {
        double[] Values(int i) { var t = ctx.Constant(i)!; return Enumerable.Range(0, (int)t.ElementCount).Select(k => t.GetDouble(k)).ToArray(); }
        var (scale, bias, mean, variance) = (Values(1), Values(2), Values(3), Values(4));
        var a = new double[scale.Length];
        var b = new double[scale.Length];
        for (int c = 0; c < a.Length; c++)
        {
            a[c] = 1 / Math.Sqrt(variance[c] + epsilon) * scale[c];
            b[c] = bias[c] - mean[c] * a[c];
        }
        // x·a + b in x's compute type (float32 for narrow floats), as a runtime folding into a Conv would compute it.
        var et = ctx.InputElementType(0);
        var compute = et == ElementType.Float64 ? ElementType.Float64 : ElementType.Float32;
        var shape = new long[] { a.Length };
        TensorData Parameter(double[] values) => compute == ElementType.Float64 ? new TensorData(compute, shape, values)
            : new TensorData(compute, shape, Array.ConvertAll(values, v => (float)v));
        var factor = LoweredConstants.Add(ctx, Parameter(a));
        var shift = LoweredConstants.Add(ctx, Parameter(b));

        var p = new ProgramBuilder(x.Rank);
        var xs = p.Convert(p.LoadNewInput(et), compute);
        p.StoreNewOutput(p.MulAdd(xs, p.LoadNewInput(compute), p.LoadNewInput(compute)), et);
        var y = ctx.NewOutput(0);
        StridedCopy.Dispatch(ctx, p, y.Shape, [StridedView.Contiguous(x), PerChannel(factor, x), PerChannel(shift, x)], [StridedView.Contiguous(y)]);
    }

    private static void LowerInference(LoweringContext ctx, TensorRef x, double epsilon)
    {
        var p = new ProgramBuilder(x.Rank);
        var inputs = new List<StridedView> { StridedView.Contiguous(x) };
        var regs = new Reg[5];
        for (int i = 0; i < 5; i++)
        {
            regs[i] = p.Convert(p.LoadNewInput(ctx.InputElementType(i)), ElementType.Float64);
            if (i > 0) inputs.Add(PerChannel(ctx.Input(i), x));
        }
        var inverse = p.Unary(EwOp.Reciprocal, p.Unary(EwOp.Sqrt, p.Binary(EwOp.Add, regs[4], p.Float(epsilon, ElementType.Float64))));
        var normalized = p.Binary(EwOp.Mul, p.Binary(EwOp.Sub, regs[0], regs[3]), inverse);
        p.StoreNewOutput(p.Binary(EwOp.Add, p.Binary(EwOp.Mul, normalized, regs[1]), regs[2]), ctx.InputElementType(0));
        var y = ctx.NewOutput(0);
        StridedCopy.Dispatch(ctx, p, y.Shape, inputs, [StridedView.Contiguous(y)]);
    }

    /// <summary>Normalizes by the batch's statistics; running = input·momentum + batch·(1 − momentum).</summary>
    private static void LowerTraining(LoweringContext ctx, TensorRef x, double epsilon)
    {
        Dim channels = x.Shape[1], batch = x.Shape[0], spatial = Layout.Product(x.Shape.Skip(2));
        var mean = ctx.NewTemporary(DType.Float64, [channels]);
        var variance = ctx.NewTemporary(DType.Float64, [channels]);
        NormalizationLowering.Emit(ctx, x, new NormalizationLowering.GroupLayout(1, batch, channels, spatial), NormalizeKind.Standardize, epsilon,
            ctx.NewOutput(0), NormalizeAffine.PerChannel, ctx.Input(1), ctx.Input(2), [channels, 1, batch * spatial],
            mean, variance, varianceOutput: true);
        double momentum = ctx.Op.GetFloat("momentum", 0.9f);
        if (ctx.Op.HasOutput(1)) Running(ctx, ctx.Input(3), mean, ctx.NewOutput(1), momentum);
        if (ctx.Op.HasOutput(2)) Running(ctx, ctx.Input(4), variance, ctx.NewOutput(2), momentum);
    }

    private static void Running(LoweringContext ctx, TensorRef input, TensorRef batch, TensorRef result, double momentum)
    {
        var p = new ProgramBuilder(1);
        var current = p.Convert(p.LoadNewInput((ElementType)(byte)input.DType), ElementType.Float64);
        var update = p.MulAdd(current, p.Float(momentum, ElementType.Float64),
            p.Binary(EwOp.Mul, p.LoadNewInput(ElementType.Float64), p.Float(1 - momentum, ElementType.Float64)));
        p.StoreNewOutput(update, (ElementType)(byte)result.DType);
        StridedCopy.Dispatch(ctx, p, result.Shape, [StridedView.Contiguous(input), StridedView.Contiguous(batch)], [StridedView.Contiguous(result)]);
    }
}
