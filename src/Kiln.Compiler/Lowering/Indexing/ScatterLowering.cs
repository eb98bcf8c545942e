using Kiln.Runtime.Kernels.Indexing;

namespace Kiln.Compiler.Lowering.Indexing;

/// <summary>
/// ScatterElements, ScatterND and TensorScatter: the result starts as a copy of data (the cache),
/// then one dispatch writes the updates into it; indices are checked by the kernels at run time.
/// </summary>
[Lowerings]
public static class ScatterLowering
{
    public static void Register(LoweringRegistry r)
    {
        r.Add("ScatterElements", LowerScatterElements);
        r.Add("ScatterND", LowerScatterND);
        r.Add("TensorScatter", LowerTensorScatter);
    }

    private static ScatterReduction Reduction(LoweringContext ctx, Runtime.DType dtype)
    {
        var reduction = ctx.Op.GetString("reduction", "none") switch
        {
            "add" => ScatterReduction.Add,
            "mul" => ScatterReduction.Mul,
            "max" => ScatterReduction.Max,
            "min" => ScatterReduction.Min,
            _ => ScatterReduction.None,
        };
        if (!ScatterUpdates.Supports(dtype, reduction))
            throw ctx.Unsupported($"reduction '{ctx.Op.GetString("reduction", "none")}' on {Runtime.DTypes.Name(dtype)} (the reference combines bfloat16 in float32)");
        return reduction;
    }

    /// <summary>The result tensor, holding a copy of <paramref name="data"/>.</summary>
    private static TensorRef CopyOf(LoweringContext ctx, TensorRef data)
    {
        var y = ctx.NewOutput(0);
        ctx.Add(new CopyStep(data, y));
        return y;
    }

    private static void LowerScatterElements(LoweringContext ctx)
    {
        var data = ctx.Input(0);
        var indices = ctx.Input(1);
        int axis = (int)ctx.Op.GetInt("axis", 0);
        if (axis < 0) axis += data.Rank;
        var descriptor = ScatterElementsKernel.Encode(data.DType, indices.DType, data.Rank, axis, Reduction(ctx, data.DType));
        var y = CopyOf(ctx, data);
        ctx.Dispatch(new KernelSpec(ScatterElementsKernel.KernelName, descriptor, 3, 2 * data.Rank), [indices, ctx.Input(2)], [y], [.. data.Shape, .. indices.Shape]);
    }

    private static void LowerScatterND(LoweringContext ctx)
    {
        var data = ctx.Input(0);
        var indices = ctx.Input(1);
        var descriptor = ScatterNDKernel.Encode(data.DType, indices.DType, data.Rank, indices.Rank, Reduction(ctx, data.DType));
        var y = CopyOf(ctx, data);
        ctx.Dispatch(new KernelSpec(ScatterNDKernel.KernelName, descriptor, 3, data.Rank + indices.Rank), [indices, ctx.Input(2)], [y], [.. data.Shape, .. indices.Shape]);
    }

    private static void LowerTensorScatter(LoweringContext ctx)
    {
        var cache = ctx.Input(0);
        var update = ctx.Input(1);
        var writeIndices = ctx.OptionalInput(2);
        int axis = (int)ctx.Op.GetInt("axis", -2);
        if (axis < 0) axis += cache.Rank;
        bool circular = ctx.Op.GetString("mode", "linear") == "circular";
        var descriptor = TensorScatterKernel.Encode(cache.DType, cache.Rank, axis, circular, writeIndices is not null);
        var y = CopyOf(ctx, cache);
        var inputs = writeIndices is null ? new[] { update } : [writeIndices, update];
        ctx.Dispatch(new KernelSpec(TensorScatterKernel.KernelName, descriptor, inputs.Length + 1, cache.Rank + 1), inputs, [y], [.. cache.Shape, update.Shape[axis]]);
    }
}
