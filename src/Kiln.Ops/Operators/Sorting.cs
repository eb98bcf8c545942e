using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Operators that order elements: TopK (the k largest or smallest along an axis; equal values
/// keep index order) and Unique (distinct elements or slices, sorted or in order of first
/// occurrence, with first indices, inverse indices and counts). Orders are computed on the
/// input's own type; bfloat16 and the 8/4-bit floats compare as float32.
/// </summary>
[OpFamily]
public static class Sorting
{
    public static void Register(OpRegistry r)
    {
        r.Add(new TopKDefinition());
        r.Add(new UniqueDefinition());
    }

    /// <summary>A tensor whose storage type orders like its values: small float formats widened to float32.</summary>
    private static TensorData ComparableKeys(TensorData x) =>
        x.ElementType.IsSmallFloat() && x.ElementType != ElementType.Float16 ? Conversions.ToFloat32(x) : x;

    /// <summary>TopK(x, k): values and int64 indices of the k largest (or smallest) elements along an axis, best first.</summary>
    private sealed class TopKDefinition : OpDefinition
    {
        public override string OpType => "TopK";
        public override int MinInputs => 2;
        public override int MinOutputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, t => t.IsNumeric(), "numeric");
            InferValues.ElementTypesFirst(ctx, ctx.InputElementType(0), ElementType.Int64);
            var s = ctx.InputShape(0);
            int axis = Axes.Normalize(ctx.Op.GetInt("axis", -1), ctx.InputRank(0), ctx.Op);
            Dim k = ctx.InputShapeValue(1) is [var given] ? given : Dim.Unknown();
            if (k.TryGetValue(out long kv) && (kv < 0 || (s[axis].TryGetValue(out long size) && kv > size)))
                throw ctx.Error($"k = {kv} is out of range for axis {axis} of {s}");
            ctx.SetOutput(0, ctx.InputElementType(0), s.With(axis, k));
            ctx.SetOutput(1, ElementType.Int64, s.With(axis, k));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var kTensor = ctx.Tensor(1);
            if (kTensor.ElementCount != 1) throw ctx.Error($"k must hold one value, has shape {TensorData.FormatShape(kTensor.Shape)}");
            long k = kTensor.GetInt64(0);
            int axis = Axes.Normalize(ctx.Op.GetInt("axis", -1), x.Rank, ctx.Op);
            if (k < 0 || k > x.Shape[axis]) throw ctx.Error($"k = {k} is out of range for axis {axis} of size {x.Shape[axis]}");
            bool largest = ctx.Op.GetInt("largest", 1) != 0;

            var keys = ComparableKeys(x);
            if (!Dispatch.IsNativeNumeric(keys.ElementType)) throw ctx.Error($"element type {x.ElementType.OnnxName()} is not numeric");
            var picked = Dispatch.Numeric<TopKSelection, long[]>(keys.ElementType, new(keys, axis, k, largest));

            // picked holds, for each result element, the position along the axis of the chosen element.
            var shape = (long[])x.Shape.Clone();
            shape[axis] = k;
            long inner = Broadcasting.Strides(x.Shape)[axis];
            var sources = new long[picked.Length];
            for (long p = 0; p < picked.LongLength; p++)
            {
                long outer = p / (k * inner), i = p % inner;
                sources[p] = (outer * x.Shape[axis] + picked[p]) * inner + i;
            }
            ctx.SetOutput(0, TensorCopy.ByRuns(x, sources, 1, shape));
            ctx.SetOutput(1, TensorData.FromInt64s(shape, picked));
        }
    }

    /// <summary>For every line along the axis, the positions of its k best elements, best first; ties go to the lower position.</summary>
    private readonly struct TopKSelection(TensorData x, int axis, long k, bool largest) : INumericVisitor<long[]>
    {
        public long[] Visit<T>() where T : unmanaged, INumber<T>
        {
            var data = x.Data<T>();
            long size = x.Shape[axis], inner = Broadcasting.Strides(x.Shape)[axis];
            long lines = size == 0 ? 0 : x.ElementCount / size;
            var result = new long[lines * k];
            var order = new int[size];
            var line = new T[size];
            bool descending = largest;
            for (long l = 0; l < lines; l++)
            {
                long outer = l / inner, i = l % inner;
                for (int j = 0; j < size; j++)
                {
                    line[j] = data[(outer * size + j) * inner + i];
                    order[j] = j;
                }
                // NaN counts as larger than every number, as in numpy's ordering.
                Array.Sort(order, (a, b) =>
                {
                    int c = T.IsNaN(line[a]) ? (T.IsNaN(line[b]) ? 0 : 1) : T.IsNaN(line[b]) ? -1 : line[a].CompareTo(line[b]);
                    if (descending) c = -c;
                    return c != 0 ? c : a.CompareTo(b);
                });
                for (long j = 0; j < k; j++) result[(outer * k + j) * inner + i] = order[j];
            }
            return result;
        }
    }

    /// <summary>Unique(x): Y, and optionally the first index of each, the inverse map and the counts.</summary>
    private sealed class UniqueDefinition : OpDefinition
    {
        public override string OpType => "Unique";
        public override int MaxOutputs => 4;

        public override void InferTypes(InferenceContext ctx)
        {
            InferValues.ElementTypesFirst(ctx, ctx.InputElementType(0), ElementType.Int64, ElementType.Int64, ElementType.Int64);
            var s = ctx.InputShape(0);
            var count = Dim.Unknown();
            Dim length;
            if (ctx.Op.HasAttribute("axis"))
            {
                int axis = Axes.Normalize(ctx.Op.GetInt("axis"), ctx.InputRank(0), ctx.Op);
                ctx.SetOutput(0, ctx.InputElementType(0), s.With(axis, count));
                length = s[axis];
            }
            else
            {
                ctx.SetOutput(0, ctx.InputElementType(0), Shape.Of(count));
                length = s.IsRanked ? s.ElementCount : Dim.Unknown();
            }
            for (int i = 1; i < ctx.OutputCount; i++)
                ctx.SetOutput(i, ElementType.Int64, Shape.Of(i == 2 ? length : count));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            int axis = 0;
            if (ctx.Op.HasAttribute("axis")) axis = Axes.Normalize(ctx.Op.GetInt("axis"), x.Rank, ctx.Op);
            else x = x.Reshape([x.ElementCount]);

            // Slices along the axis become rows of a matrix, compared lexicographically.
            var perm = Enumerable.Range(0, x.Rank).Where(a => a != axis).Prepend(axis).ToArray();
            long rows = x.Shape[axis];
            var matrix = Layout.Transpose(ComparableKeys(x), perm);
            var groups = Dispatch.Storage<RowGroups, List<List<int>>>(matrix.ElementType, new(matrix, rows));

            // Groups come sorted by value; each lists its rows in order, so g[0] is the first occurrence.
            if (ctx.Op.GetInt("sorted", 1) == 0) groups.Sort((a, b) => a[0].CompareTo(b[0]));
            var first = groups.Select(g => (long)g[0]).ToArray();
            var inverse = new long[rows];
            for (int u = 0; u < groups.Count; u++)
                foreach (int row in groups[u]) inverse[row] = u;

            long stride = Broadcasting.Strides(x.Shape)[axis];
            var offsets = TensorCopy.IdentityOffsets(x.Shape);
            offsets[axis] = first.Select(i => i * stride).ToArray();
            ctx.SetOutput(0, TensorCopy.ByAxisOffsets(x, offsets));
            ctx.SetOutput(1, TensorData.Vector(first));
            ctx.SetOutput(2, TensorData.Vector(inverse));
            ctx.SetOutput(3, TensorData.Vector(groups.Select(g => (long)g.Count).ToArray()));
        }
    }

    /// <summary>Groups the equal rows of a [rows, ...] tensor, in ascending row order; each group lists its row numbers ascending.</summary>
    private readonly struct RowGroups(TensorData matrix, long rows) : IStorageVisitor<List<List<int>>>
    {
        public List<List<int>> Visit<T>()
        {
            var data = matrix.Data<T>();
            int width = rows == 0 ? 0 : (int)(data.Length / rows);
            var comparer = typeof(T) == typeof(string) ? (IComparer<T>)(object)StringComparer.Ordinal : Comparer<T>.Default;
            int Compare(int a, int b)
            {
                for (int j = 0; j < width; j++)
                {
                    int c = comparer.Compare(data[a * width + j], data[b * width + j]);
                    if (c != 0) return c;
                }
                return 0;
            }
            var order = Enumerable.Range(0, (int)rows).ToArray();
            Array.Sort(order, (a, b) => Compare(a, b) is var c && c != 0 ? c : a.CompareTo(b));
            var groups = new List<List<int>>();
            foreach (int row in order)
            {
                if (groups.Count > 0 && Compare(groups[^1][0], row) == 0) groups[^1].Add(row);
                else groups.Add([row]);
            }
            return groups;
        }
    }
}
