using Kiln.Ir;
using Kiln.Runtime;
using Kiln.Runtime.Kernels.Indexing;

namespace Kiln.Compiler.Lowering.Indexing;

/// <summary>
/// Operators that make tensors from positions: OneHot and Trilu (kernels of their own), EyeLike
/// (a fill and a strided fill of the diagonal) and Range (folded when its operands are constants).
/// </summary>
[Lowerings]
public static class GeneratorLowering
{
    public static void Register(LoweringRegistry r)
    {
        r.Add("OneHot", LowerOneHot);
        r.Add("Trilu", LowerTrilu);
        r.Add("EyeLike", LowerEyeLike);
        // Constant folding evaluates Range with constant operands before lowering sees it.
        r.Add("Range", LowerRange);
    }

    /// <summary>
    /// Range with operands computed at run time: an integer range's length is computed by the host
    /// program from the operands; a float range's is the declared one, or counted by the kernel and
    /// read back by the host. The kernel checks the length either way.
    /// </summary>
    private static void LowerRange(LoweringContext ctx)
    {
        var dtype = ctx.Input(0).DType;
        if (!RangeKernel.Supports(dtype)) throw ctx.Unsupported($"ranges of {dtype.Name()}");
        if (ctx.InputElementType(0).IsInteger())
        {
            Dim start = Scalar(ctx, 0), limit = Scalar(ctx, 1), delta = Scalar(ctx, 2);
            ShapeOperands.Expect(ctx, 1 - Dim.Eq(delta, 0), "delta is 0");
            ctx.DefineOutputShape(0, [Dim.Max(Dim.CeilDiv(limit - start, delta), 0)]);
        }
        else if (ctx.Op.Output(0).TensorType.Shape is { Rank: 1 } declared && declared[0].IsUnknown)
        {
            // A float count the host cannot compute: the kernel counts, the host reads the count.
            var count = ctx.NewTemporary(DType.Int64, []);
            ctx.Dispatch(new KernelSpec(RangeKernel.KernelName, RangeKernel.Encode(dtype, countOnly: true), 4, 0), [ctx.Input(0), ctx.Input(1), ctx.Input(2)], [count], []);
            string symbol = ctx.NewSymbol("range.count");
            ctx.Add(new ReadDimStep(count, symbol));
            ctx.DefineOutputShape(0, [Dim.Symbol(symbol)]);
        }
        var y = ctx.NewOutput(0);
        ctx.Dispatch(new KernelSpec(RangeKernel.KernelName, RangeKernel.Encode(dtype), 4, 1), [ctx.Input(0), ctx.Input(1), ctx.Input(2)], [y], [y.Shape[0]]);
    }

    private static Dim Scalar(LoweringContext ctx, int input) =>
        ctx.Constant(input) is { } c ? c.GetInt64(0) : ShapeOperands.Read(ctx, input)![0];

    private static void LowerOneHot(LoweringContext ctx)
    {
        var indices = ctx.Input(0);
        var y = ctx.NewOutput(0);
        int axis = (int)ctx.Op.GetInt("axis", -1);
        if (axis < 0) axis += indices.Rank + 1;
        Dim[] constants = [Layout.Product(indices.Shape.Take(axis)), y.Shape[axis], Layout.Product(indices.Shape.Skip(axis))];
        var descriptor = OneHotKernel.Encode(indices.DType, ctx.Input(1).DType, y.DType);
        ctx.Dispatch(new KernelSpec(OneHotKernel.KernelName, descriptor, 4, 3), [indices, ctx.Input(1), ctx.Input(2)], [y], constants);
    }

    private static void LowerTrilu(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        var k = ctx.OptionalInput(1);
        var descriptor = TriluKernel.Encode(x.DType, ctx.Op.GetInt("upper", 1) != 0, k is not null);
        Dim[] constants = [Layout.Product(x.Shape.SkipLast(2)), x.Shape[^2], x.Shape[^1]];
        ctx.Dispatch(new KernelSpec(TriluKernel.KernelName, descriptor, k is null ? 2 : 3, 3), k is null ? [x] : [x, k], [ctx.NewOutput(0)], constants);
    }

    /// <summary>Zeros, then ones along diagonal k: a strided view that steps one row and one column at a time.</summary>
    private static void LowerEyeLike(LoweringContext ctx)
    {
        var y = ctx.NewOutput(0);
        long k = ctx.Op.GetInt("k", 0);
        Dim rows = y.Shape[0], columns = y.Shape[1];
        StridedCopy.Fill(ctx, y.Shape, StridedView.Contiguous(y), 0);
        // Diagonal k starts at (0, k) or (-k, 0); its length is clipped by both edges.
        Dim start = k >= 0 ? k : -k * columns;
        Dim length = Dim.Max(Dim.Min(k >= 0 ? rows : rows + k, k >= 0 ? columns - k : columns), 0);
        if (length.TryGetValue(out long n) && n == 0) return;
        StridedCopy.Fill(ctx, [length], new StridedView(y, start, [columns + 1]), 1);
    }
}
