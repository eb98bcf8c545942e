using Kiln.Ir;
using Kiln.Runtime.Kernels.Indexing;

namespace Kiln.Compiler.Lowering.Indexing;

/// <summary>Gather, GatherElements and GatherND, each one dispatch of its kernel; indices are checked by the kernels at run time.</summary>
[Lowerings]
public static class GatherLowering
{
    public static void Register(LoweringRegistry r)
    {
        r.Add("Gather", LowerGather);
        r.Add("GatherElements", LowerGatherElements);
        r.Add("GatherND", LowerGatherND);
    }

    private static int Axis(LoweringContext ctx, int rank)
    {
        int axis = (int)ctx.Op.GetInt("axis", 0);
        return axis < 0 ? axis + rank : axis;
    }

    private static void LowerGather(LoweringContext ctx)
    {
        var data = ctx.Input(0);
        var indices = ctx.Input(1);
        int axis = Axis(ctx, data.Rank);
        Dim[] constants = [Layout.Product(data.Shape.Take(axis)), data.Shape[axis], Layout.Product(data.Shape.Skip(axis + 1)), indices.ElementCount];
        ctx.Dispatch(new KernelSpec(GatherKernel.KernelName, GatherKernel.Encode(data.DType, indices.DType), 3, 4), [data, indices], [ctx.NewOutput(0)], constants);
    }

    private static void LowerGatherElements(LoweringContext ctx)
    {
        var data = ctx.Input(0);
        var indices = ctx.Input(1);
        var descriptor = GatherElementsKernel.Encode(data.DType, indices.DType, data.Rank, Axis(ctx, data.Rank));
        ctx.Dispatch(new KernelSpec(GatherElementsKernel.KernelName, descriptor, 3, 2 * data.Rank), [data, indices], [ctx.NewOutput(0)], [.. data.Shape, .. indices.Shape]);
    }

    private static void LowerGatherND(LoweringContext ctx)
    {
        var data = ctx.Input(0);
        var indices = ctx.Input(1);
        int batchDims = (int)ctx.Op.GetInt("batch_dims", 0);
        var descriptor = GatherNDKernel.Encode(data.DType, indices.DType, data.Rank, indices.Rank, batchDims);
        ctx.Dispatch(new KernelSpec(GatherNDKernel.KernelName, descriptor, 3, data.Rank + indices.Rank), [data, indices], [ctx.NewOutput(0)], [.. data.Shape, .. indices.Shape]);
    }
}
