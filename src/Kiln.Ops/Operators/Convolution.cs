using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Conv (float), ConvInteger (8-bit inputs, int32 result) and QLinearConv (8-bit in and out):
/// N-d grouped convolution with strides, dilations, pads and auto_pad, the kernel size taken from
/// the weights when kernel_shape is absent. All three run <see cref="ConvolutionKernels.Convolve"/>;
/// the integer forms subtract zero points first and accumulate exactly in int32.
/// </summary>
[OpFamily]
public static class Convolution
{
    public static void Register(OpRegistry r)
    {
        r.Add(new ConvDefinition());
        r.Add(new ConvIntegerDefinition());
        r.Add(new QLinearConvDefinition());
    }

    private sealed class ConvDefinition : OpDefinition
    {
        public override string OpType => "Conv";
        public override int MinInputs => 2;
        public override int MaxInputs => 3;

        public override void InferTypes(InferenceContext ctx)
        {
            var et = Infer.SameElementType(ctx, 0, 1, 2);
            Infer.ElementTypeIn(ctx, 0, t => t.IsFloat(), "a float type");
            ctx.SetOutput(0, et, ConvolutionShapes.Infer(ctx, 0, 1, 2));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var w = ctx.Tensor(1);
            var bias = ctx.OptionalTensor(2);
            if (!x.ElementType.IsFloat() || w.ElementType != x.ElementType || (bias is not null && bias.ElementType != x.ElementType))
                throw ctx.Error("X, W and B must share one float element type");
            var layout = ConvolutionShapes.Check(ctx, x, w, bias);
            ctx.SetOutput(0, FloatCompute.AccumulatesInDouble(x.ElementType) ? Run<double>(x, w, bias, layout) : Run<float>(x, w, bias, layout));
        }

        private static TensorData Run<T>(TensorData x, TensorData w, TensorData? bias, ConvolutionLayout layout) where T : unmanaged, System.Numerics.INumber<T>
        {
            var y = HostBuffers.Allocate<T>(layout.OutputShape);
            ConvolutionKernels.Convolve(FloatCompute.Widen<T>(x), FloatCompute.Widen<T>(w), bias is null ? null : FloatCompute.Widen<T>(bias), y,
                layout.Batch, layout.Channels, layout.Filters, layout.Groups, layout.Geometry);
            return FloatCompute.Narrow(y, layout.OutputShape, x.ElementType);
        }
    }

    /// <summary>ConvInteger(x, w, x_zero_point, w_zero_point): (x - x_zp) conv (w - w_zp) in int32.</summary>
    private sealed class ConvIntegerDefinition : OpDefinition
    {
        public override string OpType => "ConvInteger";
        public override int MinInputs => 2;
        public override int MaxInputs => 4;

        public override void InferTypes(InferenceContext ctx)
        {
            Quantized.CheckEightBit(ctx, 0, 1);
            ctx.SetOutput(0, ElementType.Int32, ConvolutionShapes.Infer(ctx, 0, 1, -1));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var w = ctx.Tensor(1);
            var layout = ConvolutionShapes.Check(ctx, x, w, null);
            var y = Accumulate(ctx, x, ctx.OptionalTensor(2), w, ctx.OptionalTensor(3), null, layout);
            ctx.SetOutput(0, new TensorData(ElementType.Int32, layout.OutputShape, y));
        }
    }

    /// <summary>
    /// QLinearConv(x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B): the int32 convolution of
    /// the zero-point-shifted operands plus B, requantized with x_scale * w_scale / y_scale
    /// (w_scale may be per output channel).
    /// </summary>
    private sealed class QLinearConvDefinition : OpDefinition
    {
        public override string OpType => "QLinearConv";
        public override int MinInputs => 8;
        public override int MaxInputs => 9;

        public override void InferTypes(InferenceContext ctx)
        {
            Quantized.CheckEightBit(ctx, 0, 3, 7);
            var et = ctx.InputElementType(7);
            if (ctx.InputElementType(0) != ctx.InputElementType(2) || ctx.InputElementType(3) != ctx.InputElementType(5))
                throw ctx.TypeError("zero points must have the element type of the tensor they shift");
            if (ctx.HasInput(8) && ctx.InputElementType(8) != ElementType.Int32) throw ctx.TypeError("B must be int32");
            ctx.SetOutput(0, et, ConvolutionShapes.Infer(ctx, 0, 3, 8));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var w = ctx.Tensor(3);
            var bias = ctx.OptionalTensor(8);
            var yZero = ctx.Tensor(7);
            var layout = ConvolutionShapes.Check(ctx, x, w, bias);
            var acc = Accumulate(ctx, x, ctx.Tensor(2), w, ctx.Tensor(5), bias, layout);

            // One multiplier per output channel: x_scale * w_scale[m] / y_scale in the scales' precision.
            var xScale = Quantized.Scalar(ctx, ctx.Tensor(1), "x_scale");
            var yScale = Quantized.Scalar(ctx, ctx.Tensor(6), "y_scale");
            var wScale = ctx.Tensor(4);
            if (wScale.ElementCount != 1 && wScale.ElementCount != layout.Filters)
                throw ctx.Error($"w_scale has {wScale.ElementCount} values, expected 1 or {layout.Filters} (one per output channel)");
            var scaleType = wScale.ElementType;
            var multipliers = new double[layout.Filters];
            for (int m = 0; m < multipliers.Length; m++)
                multipliers[m] = FloatCompute.RoundTo(scaleType, FloatCompute.RoundTo(scaleType, xScale * wScale.GetDouble(wScale.ElementCount == 1 ? 0 : m)) / yScale);

            var y = TensorData.Zeros(yZero.ElementType, layout.OutputShape);
            double zero = Quantized.Scalar(ctx, yZero, "y_zero_point");
            long plane = layout.Geometry.OutputPlane;
            for (long i = 0; i < acc.LongLength; i++)
                Quantized.SetSaturated(y, i, Math.Round(acc[i] * multipliers[i / plane % layout.Filters] + zero, MidpointRounding.ToEven));
            ctx.SetOutput(0, y);
        }
    }

    /// <summary>The int32 convolution of (x - x_zero_point) with (w - w_zero_point), plus an int32 bias.</summary>
    private static int[] Accumulate(EvaluationContext ctx, TensorData x, TensorData? xZero, TensorData w, TensorData? wZero, TensorData? bias, ConvolutionLayout layout)
    {
        if (xZero is not null && xZero.ElementCount != 1) throw ctx.Error("the input zero point must be a scalar");
        if (wZero is not null && wZero.ElementCount != 1 && wZero.ElementCount != layout.Filters)
            throw ctx.Error($"the weight zero point has {wZero.ElementCount} values, expected 1 or {layout.Filters} (one per output channel)");
        var xs = Quantized.Shifted(x, xZero, 1);
        // A per-channel weight zero point applies to each filter's block of C/group * kernel values.
        var ws = Quantized.Shifted(w, wZero, w.ElementCount / layout.Filters);
        var y = HostBuffers.Allocate<int>(layout.OutputShape);
        ConvolutionKernels.Convolve(xs, ws, bias?.Data<int>(), y, layout.Batch, layout.Channels, layout.Filters, layout.Groups, layout.Geometry);
        return y;
    }
}

/// <summary>The sizes of one convolution, checked against each other.</summary>
public sealed record ConvolutionLayout(int Batch, int Channels, int Filters, int Groups, WindowGeometry Geometry, long[] OutputShape);

/// <summary>Shape rules shared by the convolution operators.</summary>
public static class ConvolutionShapes
{
    /// <summary>
    /// The result shape [N, M, out...] of a convolution of input <paramref name="xi"/> with weights
    /// <paramref name="wi"/> [M, C / group, kernel...], checking channels and the optional bias
    /// <paramref name="bi"/> (-1 when the operator has none).
    /// </summary>
    public static Shape Infer(InferenceContext ctx, int xi, int wi, int bi)
    {
        var x = ctx.InputShape(xi);
        var w = ctx.InputShape(wi);
        if (!x.IsRanked && !w.IsRanked) throw new ShapeUnknownException();
        int rank = x.IsRanked ? x.Rank : w.Rank;
        if (rank < 3) throw ctx.Error($"X must have rank 3 or more ([N, C, spatial...]), got {x}");
        if (x.IsRanked && w.IsRanked && w.Rank != rank) throw ctx.Error($"W {w} must have the rank of X {x}");
        long group = ctx.Op.GetInt("group", 1);
        if (group < 1) throw ctx.Error($"group must be positive, got {group}");
        if (!x.IsRanked || !w.IsRanked) throw new ShapeUnknownException();

        var m = w[0];
        if (x[1].TryGetValue(out long c) && w[1].TryGetValue(out long cg) && c != cg * group)
            throw ctx.Error($"X has {c} channels, W expects {cg} per group x {group} groups");
        if (m.TryGetValue(out long filters) && filters % group != 0)
            throw ctx.Error($"W has {filters} filters, not a multiple of group {group}");
        if (bi >= 0 && ctx.HasInput(bi))
        {
            var b = ctx.InputShape(bi);
            if (b.IsRanked && (b.Rank != 1 || (b[0].IsKnown && m.IsKnown && b[0] != m)))
                throw ctx.Error($"B {b} must be a vector of the {m} output channels");
        }

        var kernel = KernelOf(w);
        if (kernel is null && ctx.Op.GetInts("kernel_shape") is null)
            return new Shape(new[] { x[0], m }.Concat(Enumerable.Range(0, rank - 2).Select(_ => Dim.Unknown())));
        return WindowAttributes.Read(ctx.Op, rank - 2, kernel).OutputShape(x, m);
    }

    /// <summary>The spatial kernel sizes of a weight shape, when all are known.</summary>
    public static long[]? KernelOf(Shape w)
    {
        var dims = w.Dims.Skip(2).ToArray();
        return dims.All(d => d.IsKnown) ? dims.Select(d => d.Value).ToArray() : null;
    }

    /// <summary>Checks X [N, C, ...], W [M, C / group, kernel...] and B [M] at run time and resolves the window.</summary>
    public static ConvolutionLayout Check(EvaluationContext ctx, TensorData x, TensorData w, TensorData? bias)
    {
        if (x.Rank < 3) throw ctx.Error($"X must have rank 3 or more, got {TensorData.FormatShape(x.Shape)}");
        if (w.Rank != x.Rank) throw ctx.Error($"W {TensorData.FormatShape(w.Shape)} must have the rank of X {TensorData.FormatShape(x.Shape)}");
        long group = ctx.Op.GetInt("group", 1);
        long filters = w.Shape[0];
        if (group < 1 || x.Shape[1] != w.Shape[1] * group || filters % group != 0)
            throw ctx.Error($"X {TensorData.FormatShape(x.Shape)} and W {TensorData.FormatShape(w.Shape)} do not fit group {group}");
        if (bias is not null && (bias.Rank != 1 || bias.Shape[0] != filters))
            throw ctx.Error($"B {TensorData.FormatShape(bias.Shape)} must be a vector of the {filters} output channels");
        var window = WindowAttributes.Read(ctx.Op, x.Rank - 2, w.Shape[2..]);
        var geometry = window.Resolve(x.Shape.AsSpan(2), ctx.Op);
        long[] shape = [x.Shape[0], filters, .. geometry.Output];
        return new ConvolutionLayout((int)x.Shape[0], (int)x.Shape[1], (int)filters, (int)group, geometry, shape);
    }
}
