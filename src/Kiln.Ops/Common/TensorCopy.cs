using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// Data movement for the tensor-manipulation operators, written once for every element type:
/// operators describe where each output element comes from (per-axis source offsets, or runs of
/// consecutive source elements) and these loops move the elements in their storage type.
/// Negative source offsets mean "outside the source": the element is the fill value (padding).
/// Complex tensors are not supported here (their storage interleaves two numbers per element).
/// </summary>
public static class TensorCopy
{
    /// <summary>
    /// A tensor of shape [offsets[0].Length, ..., offsets[n-1].Length] whose element [i0, ..., in-1]
    /// is the source element at flat offset offsets[0][i0] + ... + offsets[n-1][in-1], or
    /// <paramref name="fill"/> (default zero) where any of those offsets is negative.
    /// Transpose, Slice, Expand, Tile, Pad and Gather along one axis are all this copy.
    /// </summary>
    public static TensorData ByAxisOffsets(TensorData src, long[][] offsets, TensorData? fill = null)
    {
        var result = TensorData.Zeros(src.ElementType, offsets.Select(o => (long)o.Length).ToArray());
        Dispatch.Storage<AxisOffsetCopy, bool>(src.ElementType, new(src, result, FoldShortRows(offsets), FillOf(src, fill)));
        return result;
    }

    /// <summary>
    /// Merges the last two axes while rows are short (a transpose to channels-last has rows of 3):
    /// the copy loop then runs over long rows instead of paying its per-row cost per few elements.
    /// </summary>
    private static long[][] FoldShortRows(long[][] offsets)
    {
        const int ShortRow = 64, MaxFolded = 1 << 16;
        while (offsets.Length > 1 && offsets[^1].Length < ShortRow && (long)offsets[^2].Length * offsets[^1].Length <= MaxFolded)
        {
            long[] outer = offsets[^2], inner = offsets[^1];
            var folded = new long[outer.Length * inner.Length];
            for (int j = 0; j < outer.Length; j++)
                for (int k = 0; k < inner.Length; k++)
                    folded[j * inner.Length + k] = outer[j] < 0 || inner[k] < 0 ? -1 : outer[j] + inner[k];
            offsets = [.. offsets[..^2], folded];
        }
        return offsets;
    }

    /// <summary>
    /// A tensor of the given shape made of runs of <paramref name="runLength"/> consecutive source
    /// elements: run k is the source elements from offset starts[k], or fill when starts[k] is negative.
    /// </summary>
    public static TensorData ByRuns(TensorData src, long[] starts, long runLength, long[] shape, TensorData? fill = null)
    {
        var result = TensorData.Zeros(src.ElementType, shape);
        if (starts.LongLength * runLength != result.ElementCount)
            throw new InvalidOperationException($"{starts.Length} runs of {runLength} do not fill shape {TensorData.FormatShape(shape)}");
        Dispatch.Storage<RunCopy, bool>(src.ElementType, new(src, result, starts, runLength, FillOf(src, fill)));
        return result;
    }

    /// <summary>Overwrites runs of <paramref name="target"/> (a tensor the caller owns): run k of updates goes to offset starts[k]. Later runs win.</summary>
    public static void PutRuns(TensorData target, long[] starts, long runLength, TensorData updates) =>
        Dispatch.Storage<RunPut, bool>(target.ElementType, new(target, starts, runLength, updates));

    /// <summary>
    /// Checks a result shape before anything is allocated for it: negative sizes and tensors too
    /// large for one array become <paramref name="error"/> (which names the node).
    /// </summary>
    public static void CheckResultShape(long[] shape, Func<string, KilnException> error)
    {
        try { TensorData.CheckedCount(shape); }
        catch (KilnException e) { throw error(e.Message); }
    }

    /// <summary>Offsets start*stride, (start+step)*stride, ...: one axis of a strided view.</summary>
    public static long[] Strided(long count, long start, long step, long stride)
    {
        var o = new long[count];
        for (long k = 0; k < count; k++) o[k] = (start + k * step) * stride;
        return o;
    }

    /// <summary>The identity view of a tensor: per-axis offsets that copy it unchanged (callers then change some axes).</summary>
    public static long[][] IdentityOffsets(long[] shape)
    {
        var strides = Broadcasting.Strides(shape);
        return shape.Select((d, i) => Strided(d, 0, 1, strides[i])).ToArray();
    }

    private static TensorData FillOf(TensorData src, TensorData? fill)
    {
        if (fill is null) return TensorData.Zeros(src.ElementType);
        if (fill.ElementType != src.ElementType || fill.ElementCount != 1)
            throw new KilnException(ErrorCode.TypeMismatch, $"fill value {fill.Type} must be one {src.ElementType.OnnxName()} element");
        return fill;
    }

    private static bool IsConsecutive(long[] offsets)
    {
        if (offsets.Length == 0 || offsets[0] < 0) return false;
        for (int k = 1; k < offsets.Length; k++)
            if (offsets[k] != offsets[0] + k) return false;
        return true;
    }

    private readonly struct AxisOffsetCopy(TensorData src, TensorData dst, long[][] offsets, TensorData fill) : IStorageVisitor<bool>
    {
        public bool Visit<T>()
        {
            var s = src.Data<T>();
            var d = dst.Data<T>();
            T f = fill.Data<T>()[0];
            if (d.Length == 0) return true;
            int rank = offsets.Length;
            if (rank == 0) { d[0] = s[0]; return true; }

            // Rows along the last axis; an odometer over the outer axes gives each row's base offset.
            var inner = offsets[rank - 1];
            bool consecutive = IsConsecutive(inner);
            var index = new int[rank - 1];
            for (long p = 0; p < d.Length; p += inner.Length)
            {
                long rowBase = 0;
                for (int a = 0; a < rank - 1 && rowBase >= 0; a++)
                {
                    long o = offsets[a][index[a]];
                    rowBase = o < 0 ? -1 : rowBase + o;
                }
                var row = d.AsSpan((int)p, inner.Length);
                if (rowBase < 0) row.Fill(f);
                else if (consecutive) s.AsSpan((int)(rowBase + inner[0]), inner.Length).CopyTo(row);
                else
                    for (int k = 0; k < row.Length; k++)
                        row[k] = inner[k] < 0 ? f : s[rowBase + inner[k]];
                for (int a = rank - 2; a >= 0; a--)
                {
                    if (++index[a] < offsets[a].Length) break;
                    index[a] = 0;
                }
            }
            return true;
        }
    }

    private readonly struct RunCopy(TensorData src, TensorData dst, long[] starts, long runLength, TensorData fill) : IStorageVisitor<bool>
    {
        public bool Visit<T>()
        {
            var s = src.Data<T>();
            var d = dst.Data<T>();
            T f = fill.Data<T>()[0];
            int n = (int)runLength;
            if (n == 1)
            {
                for (int k = 0; k < starts.Length; k++) d[k] = starts[k] < 0 ? f : s[starts[k]];
                return true;
            }
            for (int k = 0; k < starts.Length; k++)
            {
                var run = d.AsSpan(k * n, n);
                if (starts[k] < 0) run.Fill(f);
                else s.AsSpan((int)starts[k], n).CopyTo(run);
            }
            return true;
        }
    }

    private readonly struct RunPut(TensorData target, long[] starts, long runLength, TensorData updates) : IStorageVisitor<bool>
    {
        public bool Visit<T>()
        {
            var t = target.Data<T>();
            var u = updates.Data<T>();
            int n = (int)runLength;
            for (int k = 0; k < starts.Length; k++)
                u.AsSpan(k * n, n).CopyTo(t.AsSpan((int)starts[k], n));
            return true;
        }
    }
}
