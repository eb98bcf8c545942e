using Kiln.Compiler.Lowering.Elementwise;
using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime;
using Kiln.Runtime.Kernels.Gemm;

namespace Kiln.Compiler.Lowering.Gemm;

/// <summary>
/// MatMul (numpy batching and broadcasting, 1-D operands) and Gemm (transA, transB, alpha, beta, C)
/// as "matmul" dispatches. float32 runs the packed GEMM with Gemm's alpha and C in the epilogue;
/// float16 and the other small floats are computed in float32 like the reference (operands
/// widened, the result rounded once); float64 and integers run the kernel's plain product, with
/// Gemm's alpha·AB + beta·C as an elementwise dispatch after it.
/// </summary>
[Lowerings]
public static class MatMulLowering
{
    public static void Register(LoweringRegistry r)
    {
        r.Add("MatMul", ctx => LowerMatMul(ctx, new EpiloguePlan()));
        r.Add("Gemm", ctx => LowerGemm(ctx, new EpiloguePlan()));
    }

    /// <summary>MatMul with an epilogue after the product (from a fusion pass; float32 only when non-empty).</summary>
    public static void LowerMatMul(LoweringContext ctx, EpiloguePlan epilogue)
    {
        var aShape = ctx.InputShape(0);
        var bShape = ctx.InputShape(1);
        if (aShape.Length == 0 || bShape.Length == 0) throw ctx.Unsupported("scalar operands");
        var outShape = ctx.OutputShape(0);
        Dim m = aShape.Length == 1 ? 1 : aShape[^2], k = aShape[^1];
        Dim n = bShape.Length == 1 ? 1 : bShape[^1];
        int batchRank = Math.Max(0, outShape.Length - (aShape.Length > 1 ? 1 : 0) - (bShape.Length > 1 ? 1 : 0));
        var batch = outShape[..batchRank];
        var product = new MatrixProduct
        {
            M = m, N = n, K = k, Batch = batch,
            A = new MatrixOperand(0, ctx.Constant(0), aShape.Length == 1 ? 0 : k, 1, BatchStrides(ctx, aShape, batch)),
            B = new MatrixOperand(1, ctx.Constant(1), bShape.Length == 1 ? 0 : 1, bShape.Length == 1 ? 1 : n, BatchStrides(ctx, bShape, batch)),
        };
        Emit(ctx, product, epilogue, null);
    }

    /// <summary>Gemm: alpha and C become epilogue stages (before any fused ones).</summary>
    public static void LowerGemm(LoweringContext ctx, EpiloguePlan fused)
    {
        var aShape = ctx.InputShape(0);
        var bShape = ctx.InputShape(1);
        if (aShape.Length != 2 || bShape.Length != 2) throw ctx.Unsupported("Gemm operands must be matrices");
        bool transA = ctx.Op.GetInt("transA", 0) != 0, transB = ctx.Op.GetInt("transB", 0) != 0;
        float alpha = ctx.Op.GetFloat("alpha", 1), beta = ctx.Op.GetFloat("beta", 1);
        Dim m = transA ? aShape[1] : aShape[0], k = transA ? aShape[0] : aShape[1];
        Dim n = transB ? bShape[0] : bShape[1];
        var product = new MatrixProduct
        {
            M = m, N = n, K = k, Batch = [],
            // A is [M, K] or, transposed, [K, M]; B is [K, N] or [N, K].
            A = new MatrixOperand(0, ctx.Constant(0), transA ? 1 : k, transA ? m : 1, []),
            B = new MatrixOperand(1, ctx.Constant(1), transB ? k : 1, transB ? 1 : n, []),
        };
        var gemm = new GemmTerms(alpha, beta, ctx.HasInput(2) ? 2 : null);
        Emit(ctx, product, fused, gemm);
    }

    /// <summary>Gemm's scaling and addend: alpha·AB + beta·C (C optional, broadcast to [M, N]).</summary>
    private sealed record GemmTerms(float Alpha, float Beta, int? C);

    private static void Emit(LoweringContext ctx, MatrixProduct product, EpiloguePlan fused, GemmTerms? gemm)
    {
        var et = ctx.InputElementType(0);
        var y = ctx.NewOutput(0);
        if (product.IsEmpty) return;
        if (et == ElementType.Float32)
        {
            product.EmitFloat32(ctx, y, GemmEpilogue(ctx, product, gemm, ctx.Input).Then(fused));
            return;
        }
        if (fused.Stages.Count > 0) throw new InvalidOperationException("epilogues are fused into float32 products only");
        if (et.IsSmallFloat())
        {
            // Computed in float32 like the reference: widen the operands, round the result once.
            var widened = new Dictionary<int, TensorRef>();
            TensorRef Widened(int i) => widened.TryGetValue(i, out var t) ? t : widened[i] = Casts.To(ctx, ctx.Input(i), DType.Float32);
            var a = product.A.Value is { } av ? product.A with { Value = Conversions.ToFloat32(av) } : product.A;
            var b = product.B.Value is { } bv ? product.B with { Value = Conversions.ToFloat32(bv) } : product.B;
            var temp = ctx.NewTemporary(DType.Float32, y.Shape);
            new MatrixProduct { M = product.M, N = product.N, K = product.K, Batch = product.Batch, A = a, B = b }
                .EmitFloat32(ctx, temp, GemmEpilogue(ctx, product, gemm, Widened), Widened);
            Casts.Copy(ctx, temp, y);
            return;
        }
        if (et != ElementType.Float64 && !et.IsInteger()) throw ctx.Unsupported($"matrix products of {et.OnnxName()}");
        bool needsTerms = gemm is not null && (gemm.Alpha != 1 || gemm.C is not null);
        var result = needsTerms ? ctx.NewTemporary(y.DType, y.Shape) : y;
        product.EmitPlain(ctx, ctx.Input(0), ctx.Input(1), result);
        if (needsTerms) EmitGemmTerms(ctx, gemm!, result, y);
    }

    /// <summary>Gemm's alpha and beta·C as epilogue stages of a float32 product.</summary>
    private static EpiloguePlan GemmEpilogue(LoweringContext ctx, MatrixProduct product, GemmTerms? gemm, Func<int, TensorRef> inputs)
    {
        var plan = new EpiloguePlan();
        if (gemm is null) return plan;
        if (gemm.Alpha != 1) plan.Add(new EpilogueStage(EpilogueOp.Scale, gemm.Alpha));
        if (gemm.C is int ci)
        {
            var c = inputs(ci);
            var strides = Layout.BroadcastStrides(c.Shape, [product.M, product.N], ctx.Op);
            plan.AddOperand(EpilogueOp.Add, new EpilogueOperand(c, 0, strides[0], strides[1]), gemm.Beta);
        }
        return plan;
    }

    /// <summary>y = alpha·t + beta·C in y's type (alpha and beta truncated to integers for integer types, as the reference does).</summary>
    private static void EmitGemmTerms(LoweringContext ctx, GemmTerms gemm, TensorRef t, TensorRef y)
    {
        var et = (ElementType)(byte)y.DType;
        var b = new ProgramBuilder(2);
        Reg Scalar(float v) => et.IsInteger() ? b.Int((long)v, et) : b.Float(v, et);
        var value = b.LoadNewInput(et);
        if (gemm.Alpha != 1) value = b.Binary(Runtime.Kernels.Elementwise.EwOp.Mul, value, Scalar(gemm.Alpha));
        var views = new List<StridedView> { StridedView.Contiguous(t) };
        if (gemm.C is int ci)
        {
            var c = ctx.Input(ci);
            var term = b.Binary(Runtime.Kernels.Elementwise.EwOp.Mul, Scalar(gemm.Beta), b.LoadNewInput(et));
            value = b.Binary(Runtime.Kernels.Elementwise.EwOp.Add, value, term);
            views.Add(new StridedView(c, 0, Layout.BroadcastStrides(c.Shape, y.Shape, ctx.Op)));
        }
        b.StoreNewOutput(value, et);
        StridedCopy.Dispatch(ctx, b, y.Shape, views, [StridedView.Contiguous(y)]);
    }

    /// <summary>An operand's element strides along the result's batch axes (numpy broadcasting; 0 where it broadcasts or lacks the axis).</summary>
    private static Dim[] BatchStrides(LoweringContext ctx, Dim[] shape, Dim[] batch)
    {
        if (shape.Length <= 2) return batch.Select(_ => (Dim)0).ToArray();
        var own = shape[..^2];
        var full = Layout.ContiguousStrides(shape);
        var broadcast = Layout.BroadcastStrides(own, batch, ctx.Op);
        // BroadcastStrides steps through `own` as if it were a tensor by itself; scale to the whole operand.
        int offset = batch.Length - own.Length;
        return broadcast.Select((s, i) => i < offset || s == (Dim)0 ? (Dim)0 : full[i - offset]).ToArray();
    }
}
