using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// ONNX multidirectional (numpy-style) broadcasting: shapes are aligned at the right, and each
/// pair of sizes must be equal or one of them 1.
/// </summary>
public static class Broadcasting
{
    /// <summary>The broadcast shape of several shapes (symbolic sizes allowed); null if any is unranked.</summary>
    public static Shape? Shape(InferenceContext ctx, params Shape[] shapes)
    {
        if (shapes.Any(s => !s.IsRanked)) return null;
        int rank = shapes.Max(s => s.Rank);
        var dims = new Dim[rank];
        for (int i = 0; i < rank; i++)
        {
            Dim result = 1;
            bool haveResult = false;
            foreach (var s in shapes)
            {
                int k = i - (rank - s.Rank);
                if (k < 0) continue;
                var d = s[k];
                if (d.TryGetValue(out long v) && v == 1) { if (!haveResult) result = 1; continue; }
                if (!haveResult || result == 1) { result = d; haveResult = true; continue; }
                if (result == d) continue;
                if (result.IsKnown && d.IsKnown)
                    throw ctx.Error($"shapes {string.Join(" and ", shapes.Select(x => x.ToString()))} cannot be broadcast (dimension {i}: {result} vs {d})");
                // Two different symbolic sizes: equal at run time, or one is 1. Prefer a known size.
                if (d.IsKnown) result = d;
                else if (!result.IsKnown) result = Dim.Max(result, d);
            }
            dims[i] = result;
        }
        return new Shape(dims);
    }

    /// <summary>The broadcast shape of concrete shapes; throws naming both shapes if they do not broadcast.</summary>
    public static long[] Shape(EvaluationContext? ctx, params long[][] shapes)
    {
        int rank = shapes.Max(s => s.Length);
        var dims = new long[rank];
        for (int i = 0; i < rank; i++)
        {
            long result = 1;
            foreach (var s in shapes)
            {
                int k = i - (rank - s.Length);
                if (k < 0 || s[k] == 1) continue;
                if (result != 1 && result != s[k])
                {
                    string msg = $"shapes {string.Join(" and ", shapes.Select(x => TensorData.FormatShape(x)))} cannot be broadcast";
                    throw ctx is not null ? ctx.Error(msg) : new KilnException(ErrorCode.InvalidShape, msg);
                }
                result = s[k];
            }
            dims[i] = result;
        }
        return dims;
    }

    /// <summary>Row-major strides of a shape.</summary>
    public static long[] Strides(ReadOnlySpan<long> shape)
    {
        var s = new long[shape.Length];
        long acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    /// <summary>
    /// Strides that read an input of shape <paramref name="input"/> as if it had the broadcast
    /// shape <paramref name="output"/>: 0 along broadcast dimensions.
    /// </summary>
    public static long[] BroadcastStrides(ReadOnlySpan<long> input, ReadOnlySpan<long> output)
    {
        var s = new long[output.Length];
        var inStrides = Strides(input);
        int offset = output.Length - input.Length;
        for (int i = 0; i < input.Length; i++)
            s[i + offset] = input[i] == 1 && output[i + offset] != 1 ? 0 : inStrides[i];
        return s;
    }

    /// <summary>
    /// For each element of the output (row-major), the linear index of the input element it
    /// reads. Simple and allocation-heavy; drivers use it only off the fast paths.
    /// </summary>
    public static int[] IndexMap(ReadOnlySpan<long> input, ReadOnlySpan<long> output)
    {
        long count = TensorData.CheckedCount(output);
        var map = new int[count];
        var strides = BroadcastStrides(input, output);
        int rank = output.Length;
        var idx = new long[rank];
        long offset = 0;
        for (long i = 0; i < count; i++)
        {
            map[i] = (int)offset;
            for (int d = rank - 1; d >= 0; d--)
            {
                idx[d]++;
                offset += strides[d];
                if (idx[d] < output[d]) break;
                offset -= strides[d] * idx[d];
                idx[d] = 0;
            }
        }
        return map;
    }
}
