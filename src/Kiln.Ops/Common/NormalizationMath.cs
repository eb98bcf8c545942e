using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// Shared arithmetic of the normalization operators, in double: statistics of reduction groups,
/// normalizing each group, and the broadcast scale and bias that follow.
/// </summary>
public static class NormalizationMath
{
    /// <summary>
    /// The mean and (population) variance of each group, in two passes for accuracy. Without
    /// centering (RMS normalization) the mean is taken as 0, so the variance is the mean square.
    /// </summary>
    public static (double[] Mean, double[] Variance) Moments(double[] x, ReductionLayout layout, bool center = true)
    {
        var mean = new double[layout.GroupCount];
        var variance = new double[layout.GroupCount];
        var members = layout.MemberOffsets;
        for (int g = 0; g < mean.Length; g++)
        {
            int start = layout.GroupStarts[g];
            double m = 0;
            if (center)
            {
                foreach (int k in members) m += x[start + k];
                m /= members.Length;
            }
            double squares = 0;
            foreach (int k in members) squares += (x[start + k] - m) * (x[start + k] - m);
            mean[g] = m;
            variance[g] = squares / members.Length;
        }
        return (mean, variance);
    }

    public static double[] InverseStdDev(double[] variance, double epsilon) =>
        variance.Select(v => 1 / Math.Sqrt(v + epsilon)).ToArray();

    /// <summary>x ← (x − mean)·invStdDev within each group.</summary>
    public static void Normalize(double[] x, ReductionLayout layout, double[] mean, double[] invStdDev)
    {
        for (int g = 0; g < layout.GroupCount; g++)
        {
            int start = layout.GroupStarts[g];
            foreach (int k in layout.MemberOffsets) x[start + k] = (x[start + k] - mean[g]) * invStdDev[g];
        }
    }

    /// <summary>y ← y·scale + bias, with scale and bias (each optional) broadcast to y's shape.</summary>
    public static void ScaleAndShift(double[] y, long[] shape, TensorData? scale, TensorData? bias, Func<string, KilnException> error)
    {
        if (scale is not null)
        {
            var (values, index) = Broadcast(scale, shape, "scale", error);
            for (int i = 0; i < y.Length; i++) y[i] *= values[index[i]];
        }
        if (bias is not null)
        {
            var (values, index) = Broadcast(bias, shape, "bias", error);
            for (int i = 0; i < y.Length; i++) y[i] += values[index[i]];
        }
    }

    /// <summary>A per-channel parameter of shape [C] as [C, 1, ..., 1], so it broadcasts along axis 1 of a rank-<paramref name="rank"/> tensor.</summary>
    public static TensorData PerChannel(TensorData p, long channels, int rank, string name, Func<string, KilnException> error)
    {
        if (p.Rank != 1 || p.Shape[0] != channels)
            throw error($"{name} must have shape [{channels}] (one value per channel), got {TensorData.FormatShape(p.Shape)}");
        var shape = new long[rank - 1];
        Array.Fill(shape, 1);
        shape[0] = channels;
        return p.Reshape(shape);
    }

    /// <summary>A fresh double array of the tensor's values (callers may overwrite it).</summary>
    public static double[] ToDoubles(TensorData t) => t.Storage switch
    {
        double[] d => (double[])d.Clone(),
        float[] f => Array.ConvertAll(f, v => (double)v),
        _ => Conversions.Convert(t, ElementType.Float64).Data<double>(),
    };

    public static TensorData FromDoubles(double[] values, long[] shape, ElementType type) => type switch
    {
        ElementType.Float64 => new TensorData(type, shape, values),
        ElementType.Float32 => new TensorData(type, shape, Array.ConvertAll(values, v => (float)v)),
        _ => Conversions.Convert(new TensorData(ElementType.Float64, shape, values), type),
    };

    private static (double[] Values, int[] Index) Broadcast(TensorData p, long[] shape, string name, Func<string, KilnException> error)
    {
        bool fits = p.Rank <= shape.Length;
        for (int d = 0; fits && d < p.Rank; d++)
        {
            long size = p.Shape[p.Rank - 1 - d];
            fits = size == 1 || size == shape[shape.Length - 1 - d];
        }
        if (!fits) throw error($"{name} of shape {TensorData.FormatShape(p.Shape)} does not broadcast to {TensorData.FormatShape(shape)}");
        return (ToDoubles(p), Broadcasting.IndexMap(p.Shape, shape));
    }
}
