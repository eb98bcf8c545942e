using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Operators that reorder elements without changing them: Transpose, and DepthToSpace /
/// SpaceToDepth (a reshape to six dimensions, a transpose, and a reshape back).
/// </summary>
[OpFamily]
public static class Layout
{
    public static void Register(OpRegistry r)
    {
        r.Add(new TransposeDefinition());
        r.Add(new DepthToSpaceDefinition());
        r.Add(new SpaceToDepthDefinition());
    }

    /// <summary>x with its axes reordered: result axis i is x's axis perm[i].</summary>
    public static TensorData Transpose(TensorData x, int[] perm)
    {
        var strides = Broadcasting.Strides(x.Shape);
        var offsets = perm.Select(p => TensorCopy.Strided(x.Shape[p], 0, 1, strides[p])).ToArray();
        return TensorCopy.ByAxisOffsets(x, offsets);
    }

    private sealed class TransposeDefinition : OpDefinition
    {
        public override string OpType => "Transpose";

        /// <summary>The 'perm' attribute (default: reverse the axes), checked to be a permutation.</summary>
        private static int[] Permutation(Operation op, int rank)
        {
            var perm = op.GetInts("perm");
            if (perm is null) return Enumerable.Range(0, rank).Reverse().ToArray();
            if (perm.Length != rank)
                throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: perm [{string.Join(", ", perm)}] has {perm.Length} entries for rank {rank}");
            return Axes.Normalize(perm, rank, op, "perm");
        }

        public override void InferTypes(InferenceContext ctx)
        {
            InferValues.ElementTypesFirst(ctx, ctx.InputElementType(0));
            var shape = ctx.InputShape(0);
            int rank = ctx.InputRank(0);
            var perm = Permutation(ctx.Op, rank);
            ctx.SetOutput(0, ctx.InputElementType(0), new Shape(perm.Select(p => shape[p])));
            if (rank == 1 && ctx.InputShapeValue(0) is { } v) ctx.SetOutputShapeValue(0, v);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            ctx.SetOutput(0, Transpose(x, Permutation(ctx.Op, x.Rank)));
        }
    }

    /// <summary>Checks the 'blocksize' attribute and the rank-4 input both block operators need.</summary>
    private static long BlockSize(Operation op)
    {
        long b = op.GetInt("blocksize");
        if (b <= 0) throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: blocksize {b} must be positive");
        return b;
    }

    private static void CheckRank4(int rank, Operation op)
    {
        if (rank != 4) throw new KilnException(ErrorCode.InvalidShape, $"{op.Describe()}: input must have rank 4 (N, C, H, W), has rank {rank}");
    }

    /// <summary>Moves blocks of channels into spatial blocks: [N, C, H, W] to [N, C/b², H·b, W·b].</summary>
    private sealed class DepthToSpaceDefinition : OpDefinition
    {
        public override string OpType => "DepthToSpace";

        private static bool ColumnRowDepth(Operation op) => op.GetString("mode", "DCR") switch
        {
            "DCR" => false,
            "CRD" => true,
            var m => throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: mode '{m}' must be DCR or CRD"),
        };

        public override void InferTypes(InferenceContext ctx)
        {
            InferValues.ElementTypesFirst(ctx, ctx.InputElementType(0));
            CheckRank4(ctx.InputRank(0), ctx.Op);
            long b = BlockSize(ctx.Op);
            ColumnRowDepth(ctx.Op);
            var s = ctx.InputShape(0);
            if (s[1].TryGetValue(out long c) && c % (b * b) != 0)
                throw ctx.Error($"channels {c} are not a multiple of blocksize² = {b * b}");
            ctx.SetOutput(0, ctx.InputElementType(0), Shape.Of(s[0], s[1] / (b * b), s[2] * b, s[3] * b));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            CheckRank4(x.Rank, ctx.Op);
            long b = BlockSize(ctx.Op);
            var (n, c, h, w) = (x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]);
            if (c % (b * b) != 0) throw ctx.Error($"channels {c} are not a multiple of blocksize² = {b * b}");
            // DCR reads channels as (block row, block column, depth); CRD as (depth, block row, block column).
            var blocks = ColumnRowDepth(ctx.Op)
                ? Transpose(x.Reshape([n, c / (b * b), b, b, h, w]), [0, 1, 4, 2, 5, 3])
                : Transpose(x.Reshape([n, b, b, c / (b * b), h, w]), [0, 3, 4, 1, 5, 2]);
            ctx.SetOutput(0, blocks.Reshape([n, c / (b * b), h * b, w * b]));
        }
    }

    /// <summary>Moves spatial blocks into channels: [N, C, H, W] to [N, C·b², H/b, W/b].</summary>
    private sealed class SpaceToDepthDefinition : OpDefinition
    {
        public override string OpType => "SpaceToDepth";

        public override void InferTypes(InferenceContext ctx)
        {
            InferValues.ElementTypesFirst(ctx, ctx.InputElementType(0));
            CheckRank4(ctx.InputRank(0), ctx.Op);
            long b = BlockSize(ctx.Op);
            var s = ctx.InputShape(0);
            foreach (int axis in new[] { 2, 3 })
                if (s[axis].TryGetValue(out long size) && size % b != 0)
                    throw ctx.Error($"spatial size {size} is not a multiple of blocksize {b}");
            ctx.SetOutput(0, ctx.InputElementType(0), Shape.Of(s[0], s[1] * (b * b), s[2] / b, s[3] / b));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            CheckRank4(x.Rank, ctx.Op);
            long b = BlockSize(ctx.Op);
            var (n, c, h, w) = (x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]);
            if (h % b != 0 || w % b != 0) throw ctx.Error($"spatial size {h}x{w} is not a multiple of blocksize {b}");
            var blocks = Transpose(x.Reshape([n, c, h / b, b, w / b, b]), [0, 3, 5, 1, 2, 4]);
            ctx.SetOutput(0, blocks.Reshape([n, c * b * b, h / b, w / b]));
        }
    }
}
