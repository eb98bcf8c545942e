using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime;
using Kiln.Runtime.Kernels.Sampling;

namespace Kiln.Compiler.Lowering.Sampling;

/// <summary>
/// GridSample, AffineGrid, MaxUnpool, RoiAlign and Col2Im: one dispatch each of their kernels.
/// Float16 and bfloat16 compute in float32, integer inputs of GridSample in float64 (as the
/// reference computes them), with converting copies around the dispatch.
/// </summary>
[Lowerings]
public static class SamplingLowering
{
    public static void Register(LoweringRegistry r)
    {
        r.Add("GridSample", LowerGridSample);
        r.Add("AffineGrid", LowerAffineGrid);
        r.Add("MaxUnpool", LowerMaxUnpool);
        r.Add("RoiAlign", LowerRoiAlign);
        r.Add("Col2Im", LowerCol2Im);
    }

    /// <summary>float32 or float64 for float types; float64 for integers when <paramref name="integers"/> is set.</summary>
    private static DType ComputeDType(LoweringContext ctx, int input, bool integers)
    {
        var et = ctx.InputElementType(input);
        if (et.IsFloat()) return ComputeCasts.FloatFor(ctx.Input(input).DType);
        return integers && et.IsNumeric() ? DType.Float64 : throw ctx.Unsupported($"{et.OnnxName()} input {input}");
    }

    private static void LowerGridSample(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        int k = x.Rank - 2;
        if (k is < 1 or > GridSampleKernel.MaxSpatialRank) throw ctx.Unsupported($"{k} spatial axes (1 to {GridSampleKernel.MaxSpatialRank})");
        var mode = ctx.Op.GetString("mode", "linear") switch
        {
            "linear" or "bilinear" => GridSampleMode.Linear,
            "nearest" => GridSampleMode.Nearest,
            "cubic" or "bicubic" => GridSampleMode.Cubic,
            var m => throw new KilnException(ErrorCode.InvalidModel, $"{ctx.Op.Describe()}: unknown mode '{m}'"),
        };
        var padding = ctx.Op.GetString("padding_mode", "zeros") switch
        {
            "zeros" => GridPadding.Zeros,
            "border" => GridPadding.Border,
            "reflection" => GridPadding.Reflection,
            var p => throw new KilnException(ErrorCode.InvalidModel, $"{ctx.Op.Describe()}: unknown padding_mode '{p}'"),
        };
        var dtype = ComputeDType(ctx, 0, integers: true);
        var grid = ctx.Input(1);
        var gridDType = grid.DType == DType.BFloat16 ? DType.Float32 : grid.DType;
        var y = ctx.NewOutput(0);
        var target = ComputeCasts.Target(ctx, y, dtype);
        ctx.Dispatch(new KernelSpec(GridSampleKernel.KernelName, GridSampleKernel.Encode(dtype, gridDType, k, mode, padding, ctx.Op.GetInt("align_corners", 0) != 0), 3, 2 + 2 * k),
            [ComputeCasts.Converted(ctx, x, dtype), ComputeCasts.Converted(ctx, grid, gridDType)], [target], [.. x.Shape, .. y.Shape.Skip(2)]);
        ComputeCasts.Finish(ctx, target, y);
    }

    private static void LowerAffineGrid(LoweringContext ctx)
    {
        var theta = ctx.Input(0);
        var y = ctx.NewOutput(0);
        int k = y.Rank - 2;
        if (k is not (2 or 3) || theta.Rank != 3) throw ctx.Unsupported($"theta [{string.Join(",", theta.Shape)}] for a grid of rank {y.Rank}");
        var dtype = ComputeDType(ctx, 0, integers: false);
        var target = ComputeCasts.Target(ctx, y, dtype);
        ctx.Dispatch(new KernelSpec(AffineGridKernel.KernelName, AffineGridKernel.Encode(dtype, k, ctx.Op.GetInt("align_corners", 0) != 0), 3, 1 + k),
            [ComputeCasts.Converted(ctx, theta, dtype), ctx.Input(1)], [target], y.Shape[..^1]);
        ComputeCasts.Finish(ctx, target, y);
    }

    /// <summary>MaxUnpool: indices address the unpooled shape [N, C, (in − 1)·stride − pads + kernel], placed at the output's origin.</summary>
    private static void LowerMaxUnpool(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Rank is < 3 or > MaxUnpoolKernel.MaxRank) throw ctx.Unsupported($"rank {x.Rank}");
        var window = WindowAttributes.Read(ctx.Op, x.Rank - 2, null);
        var unpooled = x.Shape.Select((d, i) => i < 2 ? d
            : (d - 1) * window.Strides[i - 2] - (window.Pads[i - 2] + window.Pads[i - 2 + window.SpatialRank]) + window.Kernel[i - 2]).ToArray();
        ShapeOperands.ExactShape(ctx, 2);
        var y = ctx.NewOutput(0);
        ctx.Dispatch(new KernelSpec(MaxUnpoolKernel.KernelName, MaxUnpoolKernel.Encode(x.DType, x.Rank), 3, 1 + 2 * x.Rank),
            [x, ctx.Input(1)], [y], [x.ElementCount, .. unpooled, .. y.Shape]);
    }

    private static void LowerRoiAlign(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Rank != 4) throw ctx.Unsupported($"rank {x.Rank} input");
        var op = ctx.Op;
        string mode = op.GetString("mode", "avg");
        if (mode is not ("avg" or "max")) throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: unknown mode '{mode}'");
        string transform = op.GetString("coordinate_transformation_mode", "half_pixel");
        if (transform is not ("half_pixel" or "output_half_pixel")) throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: unknown coordinate_transformation_mode '{transform}'");
        long outH = op.GetInt("output_height", 1), outW = op.GetInt("output_width", 1), samplingRatio = op.GetInt("sampling_ratio", 0);
        if (outH < 1 || outW < 1 || samplingRatio < 0) throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: output_height and output_width must be positive, sampling_ratio not negative");
        var dtype = ComputeDType(ctx, 0, integers: false);
        var rois = ctx.Input(1);
        var y = ctx.NewOutput(0);
        var target = ComputeCasts.Target(ctx, y, dtype);
        var descriptor = RoiAlignKernel.Encode(dtype, mode == "max", transform == "half_pixel", op.GetFloat("spatial_scale", 1), samplingRatio, outH, outW);
        ctx.Dispatch(new KernelSpec(RoiAlignKernel.KernelName, descriptor, 4, 5),
            [ComputeCasts.Converted(ctx, x, dtype), ComputeCasts.Converted(ctx, rois, dtype), ctx.Input(2)], [target], [.. x.Shape, rois.Shape[0]]);
        ComputeCasts.Finish(ctx, target, y);
    }

    /// <summary>Col2Im: the block shape is read at run time, so strides, dilations and pads come from the attributes alone.</summary>
    private static void LowerCol2Im(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        var y = ctx.NewOutput(0);
        int k = y.Rank - 2;
        if (x.Rank != 3 || k is < 1 or > Col2ImKernel.MaxSpatialRank) throw ctx.Unsupported($"input of rank {x.Rank} into an image of rank {y.Rank}");
        long[] Attribute(string name, int length, long fill) =>
            ctx.Op.GetInts(name) is { } v ? (v.Length == length ? v : throw new KilnException(ErrorCode.InvalidModel, $"{ctx.Op.Describe()}: '{name}' needs {length} values"))
                : Enumerable.Repeat(fill, length).ToArray();
        var strides = Attribute("strides", k, 1);
        var dilations = Attribute("dilations", k, 1);
        var pads = Attribute("pads", 2 * k, 0);
        var dtype = ComputeDType(ctx, 0, integers: true);
        var target = ComputeCasts.Target(ctx, y, dtype);
        ctx.Dispatch(new KernelSpec(Col2ImKernel.KernelName, Col2ImKernel.Encode(dtype, strides, dilations, pads[..k], pads[k..]), 4, 4 + k),
            [ComputeCasts.Converted(ctx, x, dtype), ctx.Input(1), ctx.Input(2)], [target], [x.Shape[0], y.Shape[1], x.Shape[1], x.Shape[2], .. y.Shape.Skip(2)]);
        ComputeCasts.Finish(ctx, target, y);
    }
}
