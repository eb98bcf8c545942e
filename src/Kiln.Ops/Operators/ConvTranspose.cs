using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// ConvTranspose(X, W, B): the gradient of Conv with respect to its input. Each input element
/// x[n, c, i] adds x * W[c, m, j] to output position i * stride - pad_begin + j * dilation.
/// W is [C, M / group, kernel...]. The output size per axis is
/// stride * (in - 1) + output_padding + (kernel - 1) * dilation + 1 - pad_begin - pad_end, unless
/// 'output_shape' gives it. With auto_pad SAME_* the output is output_shape or in * stride, and the
/// pads are derived from it (the odd unit of padding at the end for SAME_UPPER, at the beginning
/// for SAME_LOWER); otherwise the pads are 'pads' (zeros when absent) and an output_shape larger
/// than the covered extent is filled with the bias alone.
/// </summary>
[OpFamily]
public static class ConvTranspose
{
    public static void Register(OpRegistry r) => r.Add(new ConvTransposeDefinition());

    private sealed class ConvTransposeDefinition : OpDefinition
    {
        public override string OpType => "ConvTranspose";
        public override int MinInputs => 2;
        public override int MaxInputs => 3;

        public override void InferTypes(InferenceContext ctx)
        {
            var et = Infer.SameElementType(ctx, 0, 1, 2);
            Infer.ElementTypeIn(ctx, 0, t => t.IsFloat(), "a float type");
            var x = ctx.InputShape(0);
            var w = ctx.InputShape(1);
            if (!x.IsRanked || !w.IsRanked) throw new ShapeUnknownException();
            if (x.Rank < 3 || w.Rank != x.Rank) throw ctx.Error($"X {x} and W {w} must share one rank of 3 or more");
            long group = Group(ctx.Op);
            if (x[1].TryGetValue(out long c) && w[0].TryGetValue(out long wc) && c != wc)
                throw ctx.Error($"X has {c} channels, W has {wc}");
            var dims = new Dim[x.Rank];
            dims[0] = x[0];
            dims[1] = w[1] * group;
            var kernel = ConvolutionShapes.KernelOf(w);
            var window = kernel is null && ctx.Op.GetInts("kernel_shape") is null ? null : Window.Read(ctx.Op, x.Rank - 2, kernel);
            for (int a = 0; a < x.Rank - 2; a++) dims[a + 2] = window?.OutputSize(x[a + 2], a) ?? Dim.Unknown();
            ctx.SetOutput(0, et, new Shape(dims));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var w = ctx.Tensor(1);
            var bias = ctx.OptionalTensor(2);
            if (!x.ElementType.IsFloat() || w.ElementType != x.ElementType || (bias is not null && bias.ElementType != x.ElementType))
                throw ctx.Error("X, W and B must share one float element type");
            if (x.Rank < 3 || w.Rank != x.Rank) throw ctx.Error($"X {TensorData.FormatShape(x.Shape)} and W {TensorData.FormatShape(w.Shape)} must share one rank of 3 or more");
            long group = Group(ctx.Op);
            long channels = x.Shape[1], filters = w.Shape[1] * group;
            if (w.Shape[0] != channels || channels % group != 0)
                throw ctx.Error($"X {TensorData.FormatShape(x.Shape)} and W {TensorData.FormatShape(w.Shape)} do not fit group {group}");
            if (bias is not null && (bias.Rank != 1 || bias.Shape[0] != filters))
                throw ctx.Error($"B {TensorData.FormatShape(bias.Shape)} must be a vector of the {filters} output channels");

            var window = Window.Read(ctx.Op, x.Rank - 2, w.Shape[2..]);
            var geometry = window.Resolve(ctx, x.Shape.AsSpan(2));
            long[] shape = [x.Shape[0], filters, .. geometry.Input];
            ctx.SetOutput(0, FloatCompute.AccumulatesInDouble(x.ElementType)
                ? Run<double>(x, w, bias, shape, (int)group, geometry)
                : Run<float>(x, w, bias, shape, (int)group, geometry));
        }

        private static TensorData Run<T>(TensorData x, TensorData w, TensorData? bias, long[] shape, int group, WindowGeometry swapped)
            where T : unmanaged, System.Numerics.INumber<T>
        {
            var y = HostBuffers.Allocate<T>(shape);
            ConvolutionKernels.ConvolveTranspose(FloatCompute.Widen<T>(x), FloatCompute.Widen<T>(w), bias is null ? null : FloatCompute.Widen<T>(bias), y,
                (int)x.Shape[0], (int)x.Shape[1], (int)shape[1], group, swapped);
            return FloatCompute.Narrow(y, shape, x.ElementType);
        }

        private static long Group(Operation op)
        {
            long group = op.GetInt("group", 1);
            return group >= 1 ? group : throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: group must be positive, got {group}");
        }
    }

    /// <summary>The window attributes plus ConvTranspose's output_padding and output_shape.</summary>
    private sealed class Window
    {
        private readonly WindowAttributes _window;
        private readonly long[] _outputPadding;
        private readonly long[]? _outputShape;

        private Window(WindowAttributes window, long[] outputPadding, long[]? outputShape)
        {
            _window = window;
            _outputPadding = outputPadding;
            _outputShape = outputShape;
        }

        public static Window Read(Operation op, int spatialRank, long[]? kernel)
        {
            var window = WindowAttributes.Read(op, spatialRank, kernel);
            var padding = op.GetInts("output_padding") ?? new long[spatialRank];
            if (padding.Length != spatialRank || padding.Any(p => p < 0))
                throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: output_padding [{string.Join(",", padding)}] must have {spatialRank} non-negative values");
            var outputShape = op.GetInts("output_shape");
            // Some exporters give output_shape with the batch and channel sizes in front.
            if (outputShape is not null && outputShape.Length == spatialRank + 2) outputShape = outputShape[2..];
            if (outputShape is not null && (outputShape.Length != spatialRank || outputShape.Any(s => s < 1)))
                throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: output_shape [{string.Join(",", outputShape)}] must have {spatialRank} positive sizes");
            return new Window(window, padding, outputShape);
        }

        /// <summary>The output size before any padding is removed: the full extent the input's windows cover.</summary>
        private Dim FullSize(Dim input, int axis) =>
            (input - 1) * _window.Strides[axis] + _outputPadding[axis] + _window.DilatedKernel(axis);

        public Dim OutputSize(Dim input, int axis)
        {
            if (_outputShape is not null) return _outputShape[axis];
            return _window.AutoPad switch
            {
                AutoPad.SameUpper or AutoPad.SameLower => input * _window.Strides[axis],
                AutoPad.Valid => FullSize(input, axis),
                _ => FullSize(input, axis) - (_window.Pads[axis] + _window.Pads[axis + _window.SpatialRank]),
            };
        }

        /// <summary>The swapped window (Input = output sizes, Output = input sizes) the kernel runs on.</summary>
        public WindowGeometry Resolve(EvaluationContext ctx, ReadOnlySpan<long> input)
        {
            int k = _window.SpatialRank;
            var output = new long[k];
            var padBegin = new long[k];
            for (int a = 0; a < k; a++)
            {
                output[a] = OutputSize(input[a], a).Value;
                if (output[a] < 1) throw ctx.Error($"spatial axis {a} would have output size {output[a]}");
                if (_window.AutoPad is AutoPad.SameUpper or AutoPad.SameLower)
                {
                    long total = FullSize(input[a], a).Value - output[a];
                    long half = Dim.FloorDiv(total, 2);
                    padBegin[a] = _window.AutoPad == AutoPad.SameUpper ? half : total - half;
                }
                else padBegin[a] = _window.AutoPad == AutoPad.Valid ? 0 : _window.Pads[a];
            }
            return new WindowGeometry(output, input.ToArray(), _window.Kernel, _window.Strides, _window.Dilations, padBegin);
        }
    }
}
