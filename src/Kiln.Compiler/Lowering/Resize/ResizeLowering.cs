using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime;
using Kiln.Runtime.Kernels.Resize;

namespace Kiln.Compiler.Lowering.Resize;

/// <summary>
/// Resize (opset 19 semantics; older Resize and Upsample are upgraded on import). Nearest is one
/// "resize-nearest" dispatch that copies element bits; linear and cubic are one "resize-filter"
/// pass per resized axis, in axis order, through temporaries (the reference's separable order, so
/// results match it). Scales, sizes and roi known at compile time go into the descriptor;
/// computed ones are bound and read by the kernel, which checks they give the output shape the
/// program was compiled for. Axes with a constant scale of 1 are left alone.
/// </summary>
[Lowerings]
public static class ResizeLowering
{
    public static void Register(LoweringRegistry r) => r.Add("Resize", Lower);

    private static void Lower(LoweringContext ctx)
    {
        var op = ctx.Op;
        var x = ctx.Input(0);
        int rank = x.Rank;
        if (rank is 0 or > ResizeDescriptor.MaxRank) throw ctx.Unsupported($"rank {rank}");
        var sampling = ReadSampling(ctx);
        var axes = op.GetInts("axes") is { } given ? Axes.Normalize(given, rank, op) : Enumerable.Range(0, rank).ToArray();
        var policy = op.GetString("keep_aspect_ratio_policy", "stretch") switch
        {
            "stretch" => AspectPolicy.Stretch,
            "not_larger" => AspectPolicy.NotLarger,
            "not_smaller" => AspectPolicy.NotSmaller,
            var p => throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: unknown keep_aspect_ratio_policy '{p}'"),
        };

        bool hasScales = IsGiven(ctx, 2), hasSizes = IsGiven(ctx, 3);
        if (hasScales == hasSizes) throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: exactly one of 'scales' and 'sizes' must be given");
        var values = ctx.Constant(hasScales ? 2 : 3);
        bool parametersBound = values is null;
        bool cropping = sampling.Coordinates == CoordinateMode.TfCropAndResize && IsGiven(ctx, 1);
        var roi = cropping ? ctx.Constant(1) : null;
        bool roiBound = cropping && roi is null;

        var spec = new ResizeAxis[rank];
        for (int k = 0; k < axes.Length; k++)
        {
            int a = axes[k];
            double value = values is null ? 0 : values.GetDouble(k);
            var source = hasScales ? (parametersBound ? ScaleSource.Scales : ScaleSource.Constant) : ScaleSource.Sizes;
            double start = roi is null ? 0 : roi.GetDouble(k), end = roi is null ? 1 : roi.GetDouble(axes.Length + k);
            spec[a] = new ResizeAxis(source, roiBound, k, value, start, end);
            if (values is not null && IsStaticIdentity(spec[a], sampling, policy, x.Shape[a])) spec[a] = default;
        }
        if (values is not null && values.ElementCount != axes.Length)
            throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: {(hasScales ? "scales" : "sizes")} has {values.ElementCount} values for {axes.Length} axes");

        var inputs = new List<TensorRef>();
        if (roiBound) inputs.Add(ParameterTensor(ctx, 1, "roi"));
        if (hasScales && parametersBound) inputs.Add(ParameterTensor(ctx, 2, "scales"));
        if (hasSizes && parametersBound) inputs.Add(ctx.Input(3));
        var y = ctx.NewOutput(0);
        var constants = x.Shape.Concat(y.Shape).ToArray();
        var descriptor = new ResizeDescriptor(x.DType, sampling, policy, ResizeDescriptor.NoPassAxis, false,
            roiBound ? ctx.Input(1).DType : 0, hasScales && parametersBound ? ctx.Input(2).DType : 0, hasSizes && parametersBound,
            axes.Length, op.GetFloat("extrapolation_value", 0), FillBits(ctx, op.GetFloat("extrapolation_value", 0)), spec);

        if (y.ElementCount.TryGetValue(out long count) && count == 0) return;
        if (sampling.Mode == ResizeMethod.Nearest)
        {
            ctx.Dispatch(Kernel(ResizeNearestKernel.KernelName, descriptor), [x, .. inputs], [y], constants);
            return;
        }
        LowerFilter(ctx, x, y, descriptor, inputs, constants);
    }

    /// <summary>One pass per resized axis, each into a temporary of the shape so far; the last writes the result.</summary>
    private static void LowerFilter(LoweringContext ctx, TensorRef x, TensorRef y, ResizeDescriptor descriptor, List<TensorRef> parameters, Dim[] constants)
    {
        var dtype = x.DType switch
        {
            DType.Float32 or DType.Float64 => x.DType,
            DType.Float16 or DType.BFloat16 => DType.Float32,
            _ when ctx.InputElementType(0).IsNumeric() => DType.Float64,
            _ => throw ctx.Unsupported($"{x.DType.Name()} input in {descriptor.Sampling.Mode} mode"),
        };
        var passes = Enumerable.Range(0, descriptor.Rank).Where(a => descriptor.Axes[a].Scale != ScaleSource.Identity).ToArray();
        var current = ComputeCasts.Converted(ctx, x, dtype);
        var target = ComputeCasts.Target(ctx, y, dtype);
        if (passes.Length == 0)
        {
            ComputeCasts.Finish(ctx, current, y);
            return;
        }
        var shape = (Dim[])x.Shape.Clone();
        for (int i = 0; i < passes.Length; i++)
        {
            int a = passes[i];
            bool final = i == passes.Length - 1;
            shape[a] = y.Shape[a];
            var next = final ? target : ctx.NewTemporary(dtype, (Dim[])shape.Clone());
            var pass = descriptor with { DType = dtype, PassAxis = a, FinalPass = final };
            ctx.Dispatch(Kernel(ResizeFilterKernel.KernelName, pass), [current, .. parameters], [next], constants);
            current = next;
        }
        ComputeCasts.Finish(ctx, target, y);
    }

    private static KernelSpec Kernel(string name, ResizeDescriptor d) => new(name, d.Encode(), d.BindingCount, d.ConstantCount);

    /// <summary>An optional input that is present and not empty (the reference ignores empty scales, sizes and roi).</summary>
    private static bool IsGiven(LoweringContext ctx, int i)
    {
        if (!ctx.HasInput(i)) return false;
        var count = ctx.Input(i).ElementCount;
        if (!count.TryGetValue(out long n)) throw ctx.Unsupported($"input {i} has a symbolic length ({count}), so whether it is given is only known at run time");
        return n > 0;
    }

    private static TensorRef ParameterTensor(LoweringContext ctx, int i, string name)
    {
        var t = ctx.Input(i);
        return ResizeDescriptor.IsParameterDType(t.DType) ? t : throw ctx.Unsupported($"{name} of type {t.DType.Name()} computed at run time");
    }

    /// <summary>A constant scale of 1 (or stretched size equal to the input) maps every coordinate to itself, except under the tf_ transformations.</summary>
    private static bool IsStaticIdentity(ResizeAxis axis, ResizeSampling s, AspectPolicy policy, Dim input)
    {
        if (s.Coordinates is CoordinateMode.TfCropAndResize or CoordinateMode.TfHalfPixelForNN) return false;
        return axis.Scale switch
        {
            ScaleSource.Constant => axis.Value == 1,
            ScaleSource.Sizes => policy == AspectPolicy.Stretch && input.TryGetValue(out long n) && n == axis.Value && n > 0,
            _ => false,
        };
    }

    private static ResizeSampling ReadSampling(LoweringContext ctx)
    {
        var op = ctx.Op;
        KilnException Invalid(string what, string value) => new(ErrorCode.InvalidModel, $"{op.Describe()}: unknown {what} '{value}'");
        var mode = op.GetString("mode", "nearest") switch
        {
            "nearest" => ResizeMethod.Nearest,
            "linear" => ResizeMethod.Linear,
            "cubic" => ResizeMethod.Cubic,
            var m => throw Invalid("mode", m),
        };
        var coordinates = op.GetString("coordinate_transformation_mode", "half_pixel") switch
        {
            "half_pixel" => CoordinateMode.HalfPixel,
            "half_pixel_symmetric" => CoordinateMode.HalfPixelSymmetric,
            "pytorch_half_pixel" => CoordinateMode.PytorchHalfPixel,
            "align_corners" => CoordinateMode.AlignCorners,
            "asymmetric" => CoordinateMode.Asymmetric,
            "tf_half_pixel_for_nn" => CoordinateMode.TfHalfPixelForNN,
            "tf_crop_and_resize" => CoordinateMode.TfCropAndResize,
            var m => throw Invalid("coordinate_transformation_mode", m),
        };
        var nearest = op.GetString("nearest_mode", "round_prefer_floor") switch
        {
            "round_prefer_floor" => NearestMode.RoundPreferFloor,
            "round_prefer_ceil" => NearestMode.RoundPreferCeil,
            "floor" => NearestMode.Floor,
            "ceil" => NearestMode.Ceil,
            var m => throw Invalid("nearest_mode", m),
        };
        return new ResizeSampling(mode, coordinates, nearest, op.GetFloat("cubic_coeff_a", -0.75f),
            op.GetInt("exclude_outside", 0) != 0, op.GetInt("antialias", 0) != 0);
    }

    /// <summary>The extrapolation value as the bits of one element of X's type (converted as the reference converts it).</summary>
    private static long FillBits(LoweringContext ctx, double value)
    {
        var element = Conversions.Convert(TensorData.Scalar(ElementType.Float64, value), ctx.InputElementType(0));
        Span<byte> bits = stackalloc byte[8];
        element.AsBytes().CopyTo(bits);
        return BitConverter.ToInt64(bits);
    }
}
