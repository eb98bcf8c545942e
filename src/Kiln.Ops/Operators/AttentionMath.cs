using System.Numerics.Tensors;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>Arithmetic shared by the attention operators.</summary>
internal static class AttentionMath
{
    /// <summary>Keys [heads, length, size] regrouped by feature as [heads, size, length], so that a query's scores are a weighted sum of rows.</summary>
    public static double[] ByFeature(double[] keys, long heads, long length, long size)
    {
        var result = new double[keys.Length];
        for (long h = 0; h < heads; h++)
        for (long j = 0; j < length; j++)
        for (long c = 0; c < size; c++)
            result[(h * size + c) * length + j] = keys[(h * length + j) * size + c];
        return result;
    }

    /// <summary>scores[j] = scale · Σc query[c]·key_j[c], for one head's keys grouped by feature (see <see cref="ByFeature"/>).</summary>
    public static void Scores(ReadOnlySpan<double> query, ReadOnlySpan<double> keysByFeature, double scale, Span<double> scores)
    {
        scores.Clear();
        for (int c = 0; c < query.Length; c++)
            TensorPrimitives.MultiplyAdd(keysByFeature.Slice(c * scores.Length, scores.Length), query[c], scores, scores);
        TensorPrimitives.Multiply(scores, scale, scores);
    }

    /// <summary>Softmax of a row in place, its inputs and results rounded to the softmax precision.</summary>
    public static void Softmax(Span<double> row, ElementType precision)
    {
        double max = double.NegativeInfinity;
        for (int j = 0; j < row.Length; j++)
        {
            row[j] = FloatBuffers.RoundTo(row[j], precision);
            max = Math.Max(max, row[j]);
        }
        double sum = 0;
        for (int j = 0; j < row.Length; j++) sum += row[j] = Math.Exp(row[j] - max);
        for (int j = 0; j < row.Length; j++) row[j] = FloatBuffers.RoundTo(row[j] / sum, precision);
    }
}
