using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime;
using Kiln.Runtime.Kernels.Pooling;

namespace Kiln.Compiler.Lowering.Pooling;

/// <summary>
/// MaxPool (with Indices), AveragePool and LpPool become one "pool" dispatch; the global forms
/// one "global-pool" dispatch. Window attributes are resolved here (auto_pad pads become
/// symbolic expressions of the input sizes); float16 and bfloat16 compute in float32.
/// </summary>
[Lowerings]
public static class PoolingLowering
{
    public static void Register(LoweringRegistry r)
    {
        r.Add("MaxPool", ctx => LowerPool(ctx, PoolOp.Max));
        r.Add("AveragePool", ctx => LowerPool(ctx, PoolOp.Average));
        r.Add("LpPool", ctx => LowerPool(ctx, PoolOp.Lp));
        r.Add("GlobalAveragePool", ctx => LowerGlobalPool(ctx, PoolOp.Average));
        r.Add("GlobalMaxPool", ctx => LowerGlobalPool(ctx, PoolOp.Max));
        r.Add("GlobalLpPool", ctx => LowerGlobalPool(ctx, PoolOp.Lp));
    }

    private static void LowerPool(LoweringContext ctx, PoolOp op)
    {
        var x = ctx.Input(0);
        int k = x.Rank - 2;
        if (k < 1) throw ctx.Unsupported($"pooling needs [N, C, spatial...], got rank {x.Rank}");
        if (k > PoolDescriptor.MaxSpatialRank) throw ctx.Unsupported($"{k} spatial axes (at most {PoolDescriptor.MaxSpatialRank})");
        var window = WindowAttributes.Read(ctx.Op, k, null, allowCeilMode: true);
        for (int a = 0; a < k; a++)
            if (window.Kernel[a] > PoolDescriptor.MaxWindowParameter || window.Strides[a] > PoolDescriptor.MaxWindowParameter || window.Dilations[a] > PoolDescriptor.MaxWindowParameter)
                throw ctx.Unsupported($"window parameters beyond {PoolDescriptor.MaxWindowParameter}");
        var yShape = ctx.OutputShape(0);
        for (int a = 0; a < k; a++)
            if (yShape[a + 2].TryGetValue(out long size) && size < 1)
                throw new KilnException(ErrorCode.InvalidShape, $"{ctx.Op.Describe()}: spatial axis {a} of size {x.Shape[a + 2]} is too small for a window of extent {window.DilatedKernel(a)}");

        var dtype = PoolDescriptor.Supports(op, x.DType) ? x.DType
            : x.DType is DType.Float16 or DType.BFloat16 ? DType.Float32
            : throw ctx.Unsupported($"{x.DType.Name()} input");
        long p = op == PoolOp.Lp ? ctx.Op.GetInt("p", 2) : 0;
        if (op == PoolOp.Lp && p is < 1 or > 64) throw ctx.Unsupported($"p = {p} (1 to 64 are supported)");
        var flags = PoolFlags.None;
        if (op == PoolOp.Average && ctx.Op.GetInt("count_include_pad", 0) != 0) flags |= PoolFlags.CountIncludePad;
        bool indices = op == PoolOp.Max && ctx.Op.HasOutput(1);
        if (indices) flags |= PoolFlags.Indices;
        if (indices && ctx.Op.GetInt("storage_order", 0) != 0) flags |= PoolFlags.ColumnMajorIndices;
        var descriptor = new PoolDescriptor(op, dtype, flags, p, window.Kernel, window.Strides, window.Dilations);

        var constants = new List<Dim> { x.Shape[0] * x.Shape[1] };
        constants.AddRange(x.Shape.Skip(2));
        constants.AddRange(yShape.Skip(2));
        var pads = Enumerable.Range(0, k).Select(a => ResolvePads(window, x.Shape[a + 2], yShape[a + 2], a)).ToArray();
        constants.AddRange(pads.Select(p => p.Begin));
        constants.AddRange(pads.Select(p => p.End));

        var input = ComputeCasts.Converted(ctx, x, dtype);
        var y = ctx.NewOutput(0);
        var target = ComputeCasts.Target(ctx, y, dtype);
        var outputs = indices ? new[] { target, ctx.NewOutput(1) } : [target];
        ctx.Dispatch(new KernelSpec(PoolKernel.KernelName, descriptor.Encode(), descriptor.BindingCount, descriptor.ConstantCount), [input], outputs, constants);
        ComputeCasts.Finish(ctx, target, y);
    }

    /// <summary>The pads before and after an axis; auto_pad SAME pads depend on the (possibly symbolic) input size.</summary>
    private static (Dim Begin, Dim End) ResolvePads(WindowAttributes w, Dim input, Dim output, int axis)
    {
        switch (w.AutoPad)
        {
            case AutoPad.Valid:
                return (0, 0);
            case AutoPad.SameUpper or AutoPad.SameLower:
                Dim total = Dim.Max(0, (output - 1) * w.Strides[axis] + w.DilatedKernel(axis) - input);
                Dim small = total / 2, large = total - small;
                return w.AutoPad == AutoPad.SameUpper ? (small, large) : (large, small);
            default:
                return (w.Pads[axis], w.Pads[axis + w.SpatialRank]);
        }
    }

    private static void LowerGlobalPool(LoweringContext ctx, PoolOp op)
    {
        var x = ctx.Input(0);
        if (x.Rank < 2) throw ctx.Unsupported($"global pooling needs [N, C, spatial...], got rank {x.Rank}");
        if (!ctx.InputElementType(0).IsFloat()) throw ctx.Unsupported($"{x.DType.Name()} input");
        long p = op == PoolOp.Lp ? ctx.Op.GetInt("p", 2) : 0;
        if (op == PoolOp.Lp && p is < 1 or > 64) throw ctx.Unsupported($"p = {p} (1 to 64 are supported)");
        var dtype = ComputeCasts.FloatFor(x.DType);
        var input = ComputeCasts.Converted(ctx, x, dtype);
        var y = ctx.NewOutput(0);
        var target = ComputeCasts.Target(ctx, y, dtype);
        Dim planes = x.Shape[0] * x.Shape[1];
        ctx.Dispatch(new KernelSpec(GlobalPoolKernel.KernelName, GlobalPoolKernel.Encode(op, dtype, p), 2, 2), [input], [target],
            [planes, Layout.Product(x.Shape.Skip(2))]);
        ComputeCasts.Finish(ctx, target, y);
    }
}
