using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// MatMul (numpy matmul: batch broadcasting, 1-D operands) and Gemm
/// (Y = alpha * op(A) * op(B) + beta * C, op transposing when transA / transB, C broadcast to
/// [M, N] and optional). Floats are computed in float or double (<see cref="FloatCompute"/>),
/// integers in their own type.
/// </summary>
[OpFamily]
public static class MatMul
{
    public static void Register(OpRegistry r)
    {
        r.Add(new MatMulDefinition());
        r.Add(new GemmDefinition());
    }

    /// <summary>The numpy matmul result shape of two symbolic shapes.</summary>
    public static Shape InferShape(InferenceContext ctx, int ai, int bi)
    {
        var a = ctx.InputShape(ai);
        var b = ctx.InputShape(bi);
        if (!a.IsRanked || !b.IsRanked) throw new ShapeUnknownException();
        if (a.Rank == 0 || b.Rank == 0) throw ctx.Error($"operands must have rank 1 or more, got {a} and {b}");
        Dim ak = a[^1], bk = b.Rank == 1 ? b[0] : b[^2];
        if (ak.IsKnown && bk.IsKnown && ak != bk) throw ctx.Error($"inner sizes differ: {a} x {b}");
        var batch = Broadcasting.Shape(ctx, new Shape(a.Dims.Take(Math.Max(0, a.Rank - 2))), new Shape(b.Dims.Take(Math.Max(0, b.Rank - 2))))!;
        var dims = new List<Dim>(batch);
        if (a.Rank > 1) dims.Add(a[^2]);
        if (b.Rank > 1) dims.Add(b[^1]);
        return new Shape(dims);
    }

    private static bool IsMatMulType(ElementType t) => t.IsFloat() || t.IsInteger();

    private sealed class MatMulDefinition : OpDefinition
    {
        public override string OpType => "MatMul";
        public override int MinInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            var et = Infer.SameElementType(ctx, 0, 1);
            Infer.ElementTypeIn(ctx, 0, IsMatMulType, "a float or integer type");
            ctx.SetOutput(0, et, InferShape(ctx, 0, 1));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var a = ctx.Tensor(0);
            var b = ctx.Tensor(1);
            if (a.ElementType != b.ElementType || !IsMatMulType(a.ElementType))
                throw ctx.Error($"operands must share a float or integer type, got {a.ElementType.OnnxName()} and {b.ElementType.OnnxName()}");
            var shape = MatrixKernels.ResultShape(a.Shape, b.Shape, ctx.Error);
            if (a.ElementType.IsInteger())
            {
                ctx.SetOutput(0, Dispatch.Integer<IntegerMatMul, TensorData>(a.ElementType, new IntegerMatMul(a, b, shape)));
                return;
            }
            ctx.SetOutput(0, FloatCompute.AccumulatesInDouble(a.ElementType) ? Run<double>(a, b, shape) : Run<float>(a, b, shape));
        }

        private static TensorData Run<T>(TensorData a, TensorData b, long[] shape) where T : unmanaged, INumber<T> =>
            FloatCompute.Narrow(MatrixKernels.MatMul(FloatCompute.Widen<T>(a), a.Shape, FloatCompute.Widen<T>(b), b.Shape, shape), shape, a.ElementType);

        private readonly struct IntegerMatMul(TensorData a, TensorData b, long[] shape) : IIntegerVisitor<TensorData>
        {
            public TensorData Visit<T>() where T : unmanaged, IBinaryInteger<T> =>
                new(a.ElementType, shape, MatrixKernels.MatMul(a.Data<T>(), a.Shape, b.Data<T>(), b.Shape, shape));
        }
    }

    private sealed class GemmDefinition : OpDefinition
    {
        public override string OpType => "Gemm";
        public override int MinInputs => 2;
        public override int MaxInputs => 3;

        public override void InferTypes(InferenceContext ctx)
        {
            var et = Infer.SameElementType(ctx, 0, 1, 2);
            Infer.ElementTypeIn(ctx, 0, IsMatMulType, "a float or integer type");
            var a = ctx.InputShape(0);
            var b = ctx.InputShape(1);
            if (!a.IsRanked || !b.IsRanked) throw new ShapeUnknownException();
            if (a.Rank != 2 || b.Rank != 2) throw ctx.Error($"A {a} and B {b} must be matrices");
            bool transA = ctx.Op.GetInt("transA", 0) != 0, transB = ctx.Op.GetInt("transB", 0) != 0;
            Dim m = transA ? a[1] : a[0], ka = transA ? a[0] : a[1];
            Dim kb = transB ? b[1] : b[0], n = transB ? b[0] : b[1];
            if (ka.IsKnown && kb.IsKnown && ka != kb) throw ctx.Error($"inner sizes differ: A {a} (transA={transA}) and B {b} (transB={transB})");
            var shape = Shape.Of(m, n);
            if (ctx.HasInput(2) && ctx.InputShape(2) is { IsRanked: true } c && !shape.Equals(Broadcasting.Shape(ctx, c, shape)))
                throw ctx.Error($"C {c} does not broadcast to the result {shape}");
            ctx.SetOutput(0, et, shape);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var a = ctx.Tensor(0);
            var b = ctx.Tensor(1);
            var c = ctx.OptionalTensor(2);
            var et = a.ElementType;
            if (b.ElementType != et || (c is not null && c.ElementType != et) || !IsMatMulType(et))
                throw ctx.Error("A, B and C must share one float or integer type");
            if (a.Rank != 2 || b.Rank != 2) throw ctx.Error($"A {TensorData.FormatShape(a.Shape)} and B {TensorData.FormatShape(b.Shape)} must be matrices");
            var gemm = new GemmKernel(a, b, c, ctx.Op.GetInt("transA", 0) != 0, ctx.Op.GetInt("transB", 0) != 0,
                ctx.Op.GetFloat("alpha", 1), ctx.Op.GetFloat("beta", 1), ctx.Error);
            if (et.IsInteger()) ctx.SetOutput(0, Dispatch.Integer<GemmKernel, TensorData>(et, gemm));
            else ctx.SetOutput(0, FloatCompute.AccumulatesInDouble(et) ? gemm.Run<double>() : gemm.Run<float>());
        }

        private readonly struct GemmKernel(TensorData a, TensorData b, TensorData? c, bool transA, bool transB, float alpha, float beta,
            Func<string, KilnException> error) : IIntegerVisitor<TensorData>
        {
            public TensorData Visit<T>() where T : unmanaged, IBinaryInteger<T> => Run<T>();

            public TensorData Run<T>() where T : unmanaged, INumber<T>
            {
                var et = a.ElementType;
                var av = Read<T>(a);
                var bv = Read<T>(b);
                int m = (int)a.Shape[transA ? 1 : 0], k = (int)a.Shape[transA ? 0 : 1];
                int kb = (int)b.Shape[transB ? 1 : 0], n = (int)b.Shape[transB ? 0 : 1];
                if (k != kb) throw error($"inner sizes differ: A {TensorData.FormatShape(a.Shape)} (transA={transA}) and B {TensorData.FormatShape(b.Shape)} (transB={transB})");
                if (transA) av = MatrixKernels.Transpose(av, k, m);
                if (transB) bv = MatrixKernels.Transpose(bv, n, k);
                long[] shape = [m, n];
                var y = MatrixKernels.MatMul(av, [m, k], bv, [k, n], shape);
                T alphaT = T.CreateTruncating(alpha), betaT = T.CreateTruncating(beta);
                if (alphaT != T.One) for (int i = 0; i < y.Length; i++) y[i] *= alphaT;
                if (c is not null)
                {
                    if (!Broadcasting.Shape(null, c.Shape, shape).AsSpan().SequenceEqual(shape))
                        throw error($"C {TensorData.FormatShape(c.Shape)} does not broadcast to the result {TensorData.FormatShape(shape)}");
                    var cv = Read<T>(c);
                    var index = Broadcasting.IndexMap(c.Shape, shape);
                    for (int i = 0; i < y.Length; i++) y[i] += betaT * cv[index[i]];
                }
                return et.IsInteger() ? new TensorData(et, shape, y) : FloatCompute.Narrow(y, shape, et);
            }

            private static T[] Read<T>(TensorData t) => t.ElementType.IsInteger() ? t.Data<T>() : FloatCompute.Widen<T>(t);
        }
    }
}
