using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>Det: determinants of square matrices [*, M, M] → [*], by LU decomposition with partial pivoting in double.</summary>
[OpFamily]
public static class LinearAlgebra
{
    public static void Register(OpRegistry r) => r.Add(new DetDefinition());

    private sealed class DetDefinition : OpDefinition
    {
        public override string OpType => "Det";

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, t => t.IsFloat(), "a float type");
            var shape = ctx.InputShape(0);
            if (!shape.IsRanked) { ctx.SetOutput(0, ctx.InputElementType(0), Shape.Unranked); return; }
            if (shape.Rank < 2) throw ctx.Error($"input must be square matrices [*, M, M], got {shape}");
            var (rows, cols) = (shape[shape.Rank - 2], shape[shape.Rank - 1]);
            if (rows.IsKnown && cols.IsKnown && rows != cols) throw ctx.Error($"input must be square matrices [*, M, M], got {shape}");
            ctx.SetOutput(0, ctx.InputElementType(0), new Shape(shape.Dims.Take(shape.Rank - 2)));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            if (!x.ElementType.IsFloat()) throw ctx.Error($"needs a float tensor, got {x.ElementType.OnnxName()}");
            if (x.Rank < 2 || x.Shape[^1] != x.Shape[^2])
                throw ctx.Error($"input must be square matrices [*, M, M], got {TensorData.FormatShape(x.Shape)}");
            int m = (int)x.Shape[^1];
            var values = NormalizationMath.ToDoubles(x);
            var batchShape = x.Shape[..^2];
            var dets = new double[TensorData.CheckedCount(batchShape)];
            for (int b = 0; b < dets.Length; b++) dets[b] = Determinant(values.AsSpan(b * m * m, m * m), m);
            ctx.SetOutput(0, NormalizationMath.FromDoubles(dets, batchShape, x.ElementType));
        }
    }

    /// <summary>The determinant of a row-major m×m matrix (overwritten by its LU factors).</summary>
    private static double Determinant(Span<double> a, int m)
    {
        double det = 1;
        for (int col = 0; col < m; col++)
        {
            int pivot = col;
            for (int r = col + 1; r < m; r++)
                if (Math.Abs(a[r * m + col]) > Math.Abs(a[pivot * m + col])) pivot = r;
            if (a[pivot * m + col] == 0) return 0;
            if (pivot != col)
            {
                for (int c = 0; c < m; c++) (a[col * m + c], a[pivot * m + c]) = (a[pivot * m + c], a[col * m + c]);
                det = -det;
            }
            double diagonal = a[col * m + col];
            det *= diagonal;
            for (int r = col + 1; r < m; r++)
            {
                double factor = a[r * m + col] / diagonal;
                for (int c = col; c < m; c++) a[r * m + c] -= factor * a[col * m + c];
            }
        }
        return det;
    }
}
