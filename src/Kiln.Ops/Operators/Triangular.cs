using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Operators defined by the diagonals of matrices: EyeLike (ones on one diagonal) and Trilu
/// (keep the upper or lower triangle of each matrix in a batch). Diagonal k holds the elements
/// (i, j) with j - i = k.
/// </summary>
[OpFamily]
public static class Triangular
{
    public static void Register(OpRegistry r)
    {
        r.Add(new EyeLikeDefinition());
        r.Add(new TriluDefinition());
    }

    /// <summary>EyeLike(x): a matrix of x's shape with ones on diagonal k, of type 'dtype' (default x's type).</summary>
    private sealed class EyeLikeDefinition : OpDefinition
    {
        public override string OpType => "EyeLike";

        private static ElementType ResultType(Operation op, ElementType input)
        {
            if (!op.HasAttribute("dtype")) return input;
            long code = op.GetInt("dtype");
            if (!ElementTypes.IsDefined((int)code) || (ElementType)code is ElementType.String || ((ElementType)code).IsComplex())
                throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: dtype {code} is not a numeric or bool element type");
            return (ElementType)code;
        }

        public override void InferTypes(InferenceContext ctx)
        {
            var et = ResultType(ctx.Op, ctx.InputElementType(0));
            InferValues.ElementTypesFirst(ctx, et);
            if (ctx.InputRank(0) != 2) throw ctx.Error($"input must be a matrix, has shape {ctx.InputShape(0)}");
            ctx.SetOutput(0, et, ctx.InputShape(0));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            if (x.Rank != 2) throw ctx.Error($"input must be a matrix, has shape {TensorData.FormatShape(x.Shape)}");
            long k = ctx.Op.GetInt("k", 0);
            var zeroOne = Conversions.Convert(TensorData.Vector(0, 1), ResultType(ctx.Op, x.ElementType));
            long rows = x.Shape[0], columns = x.Shape[1];
            var choice = new long[rows * columns];
            for (long i = 0; i < rows; i++)
                if (i + k >= 0 && i + k < columns) choice[i * columns + i + k] = 1;
            ctx.SetOutput(0, TensorCopy.ByRuns(zeroOne, choice, 1, x.Shape));
        }
    }

    /// <summary>Trilu(x, k?): upper (j - i ≥ k) or lower (j - i ≤ k) triangle of each matrix in the last two axes; zeros elsewhere.</summary>
    private sealed class TriluDefinition : OpDefinition
    {
        public override string OpType => "Trilu";
        public override int MaxInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            InferValues.ElementTypesFirst(ctx, ctx.InputElementType(0));
            if (ctx.InputRank(0) < 2) throw ctx.Error($"input must have rank 2 or more, has shape {ctx.InputShape(0)}");
            if (ctx.HasInput(1)) Infer.ElementTypeIn(ctx, 1, t => t == ElementType.Int64, "int64");
            Infer.SameAsInput(ctx);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            if (x.Rank < 2) throw ctx.Error($"input must have rank 2 or more, has shape {TensorData.FormatShape(x.Shape)}");
            long k = ctx.OptionalTensor(1) is { } kTensor
                ? (kTensor.ElementCount == 1 ? kTensor.GetInt64(0) : throw ctx.Error("k must be a scalar"))
                : 0;
            bool upper = ctx.Op.GetInt("upper", 1) != 0;
            long rows = x.Shape[^2], columns = x.Shape[^1];
            var sources = new long[x.ElementCount];
            for (long p = 0; p < sources.LongLength; p++)
            {
                long i = p / columns % rows, j = p % columns;
                bool keep = upper ? j - i >= k : j - i <= k;
                sources[p] = keep ? p : -1;
            }
            ctx.SetOutput(0, TensorCopy.ByRuns(x, sources, 1, x.Shape));
        }
    }
}
