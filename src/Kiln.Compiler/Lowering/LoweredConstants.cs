using Kiln.Ir;

namespace Kiln.Compiler.Lowering;

/// <summary>Constant tensors a lowering computes at compile time (folded parameters, tables): each becomes a constant segment of the module.</summary>
internal static class LoweredConstants
{
    public static TensorRef Add(LoweringContext ctx, TensorData value)
    {
        int segment = ctx.Plan.ConstantSegments.Count;
        ctx.Plan.ConstantSegments.Add(value);
        var block = new StorageBlock(StorageKind.Constant, segment, value.AsBytes().Length);
        ctx.Plan.Blocks.Add(block);
        return new TensorRef(LoweringContext.DTypeOf(value.ElementType), value.Shape.Select(d => (Dim)d).ToArray(), block, 0);
    }
}
