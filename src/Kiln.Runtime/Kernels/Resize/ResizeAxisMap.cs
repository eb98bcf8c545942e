namespace Kiln.Runtime.Kernels.Resize;

public enum ResizeMethod : byte { Nearest = 0, Linear = 1, Cubic = 2 }

public enum CoordinateMode : byte { HalfPixel = 0, HalfPixelSymmetric = 1, PytorchHalfPixel = 2, AlignCorners = 3, Asymmetric = 4, TfHalfPixelForNN = 5, TfCropAndResize = 6 }

public enum NearestMode : byte { RoundPreferFloor = 0, RoundPreferCeil = 1, Floor = 2, Ceil = 3 }

/// <summary>Resize's attributes that shape the per-axis sampling.</summary>
public readonly record struct ResizeSampling(ResizeMethod Mode, CoordinateMode Coordinates, NearestMode Nearest, double CubicA, bool ExcludeOutside, bool Antialias)
{
    /// <summary>Taps per output coordinate along an axis with this scale: 1 for nearest; the (stretched) filter support otherwise.</summary>
    public int TapCount(double scale)
    {
        if (Mode == ResizeMethod.Nearest) return 1;
        long first = FirstTap(scale);
        return (int)(2 - 2 * first);
    }

    /// <summary>The first tap offset, relative to the input coordinate below the sample point.</summary>
    public long FirstTap(double scale)
    {
        double support = Mode == ResizeMethod.Linear ? 1 : 2;
        double stretch = Antialias ? Math.Min(scale, 1) : 1;
        return (long)Math.Floor(-support / stretch) + 1;
    }
}

/// <summary>
/// The sampling of one resized axis, computed at run time the way the reference evaluator's
/// AxisResampling does (same double arithmetic, so the same taps and weights): for every output
/// coordinate its input coordinate under the coordinate transformation, then either the nearest
/// input index, or the linear / cubic filter taps (indices clamped to the edges; stretched and
/// renormalized with antialias when downscaling; exclude_outside drops taps beyond the edges),
/// or "outside" (tf_crop_and_resize beyond the input, which takes the extrapolation value).
/// </summary>
public static class ResizeAxisMap
{
    /// <summary>
    /// Fills <paramref name="index"/> and <paramref name="weight"/> (output × taps, row-major) and
    /// <paramref name="outside"/> (one per output) for an axis. Returns true when the axis maps
    /// every output to the input of the same index with weight 1 (the reference then skips it).
    /// </summary>
    public static bool Build(ResizeSampling s, long input, long output, double scale, double roiStart, double roiEnd,
        Span<int> index, Span<double> weight, Span<bool> outside)
    {
        int taps = s.TapCount(scale);
        bool identity = input == output;
        for (long o = 0; o < output; o++)
        {
            var oIndex = index.Slice((int)(o * taps), taps);
            var oWeight = weight.Slice((int)(o * taps), taps);
            double x = Original(o, input, output, scale, roiStart, roiEnd, s.Coordinates);
            outside[(int)o] = s.Coordinates == CoordinateMode.TfCropAndResize && (x < 0 || x > input - 1);
            if (outside[(int)o])
            {
                oIndex.Clear();
                oWeight.Clear();
            }
            else if (s.Mode == ResizeMethod.Nearest)
            {
                oIndex[0] = (int)Math.Clamp(Nearest(x, s.Nearest), 0, input - 1);
                oWeight[0] = 1;
            }
            else FilterTaps(s, x, input, scale, oIndex, oWeight);
            identity = identity && CopiesSameIndex(o, outside[(int)o], oIndex, oWeight);
        }
        return identity;
    }

    private static bool CopiesSameIndex(long o, bool outside, ReadOnlySpan<int> index, ReadOnlySpan<double> weight)
    {
        if (outside) return false;
        double sum = 0;
        for (int t = 0; t < index.Length; t++)
        {
            if (weight[t] == 0) continue;
            if (index[t] != o) return false;
            sum += weight[t];
        }
        return sum == 1;
    }

    /// <summary>The input coordinate of output coordinate o (align_corners and tf_crop_and_resize use the unrounded resized length).</summary>
    public static double Original(long o, long input, long output, double scale, double roiStart, double roiEnd, CoordinateMode mode)
    {
        double resized = scale * input;
        return mode switch
        {
            CoordinateMode.HalfPixel => (o + 0.5) / scale - 0.5,
            CoordinateMode.HalfPixelSymmetric => input / 2.0 * (1 - output / resized) + (o + 0.5) / scale - 0.5,
            CoordinateMode.PytorchHalfPixel => output > 1 ? (o + 0.5) / scale - 0.5 : 0,
            CoordinateMode.AlignCorners => resized == 1 ? 0 : o * (input - 1) / (resized - 1),
            CoordinateMode.Asymmetric => o / scale,
            CoordinateMode.TfHalfPixelForNN => (o + 0.5) / scale,
            _ => resized == 1
                ? (roiEnd - roiStart) * (input - 1) / 2 + roiStart * (input - 1)
                : o * (roiEnd - roiStart) * (input - 1) / (resized - 1) + roiStart * (input - 1),
        };
    }

    private static double Nearest(double x, NearestMode mode)
    {
        double f = Math.Floor(x);
        if (f == x) return x;
        double fraction = x - f;
        return mode switch
        {
            NearestMode.RoundPreferFloor => fraction <= 0.5 ? f : f + 1,
            NearestMode.RoundPreferCeil => fraction < 0.5 ? f : f + 1,
            NearestMode.Floor => f,
            _ => f + 1,
        };
    }

    private static void FilterTaps(ResizeSampling s, double x, long input, double scale, Span<int> index, Span<double> weight)
    {
        double stretch = s.Antialias ? Math.Min(scale, 1) : 1;
        // The taps are base + t for t in [first, 1 − first], with x − base in (0, 1].
        double baseIndex = Math.Ceiling(x) - 1, ratio = x - baseIndex;
        long first = s.FirstTap(scale);
        double sum = 0;
        for (int t = 0; t < index.Length; t++)
        {
            double w = Kernel(s, stretch * (t + first - ratio));
            long i = (long)baseIndex + t + first;
            if (s.ExcludeOutside && (i < 0 || i >= input)) w = 0;
            index[t] = (int)Math.Clamp(i, 0, input - 1);
            weight[t] = w;
            sum += w;
        }
        if ((s.Antialias || s.ExcludeOutside) && sum != 0)
            for (int t = 0; t < weight.Length; t++) weight[t] /= sum;
    }

    private static double Kernel(ResizeSampling s, double d)
    {
        d = Math.Abs(d);
        if (s.Mode == ResizeMethod.Linear) return Math.Max(0, 1 - d);
        double a = s.CubicA;
        if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
        if (d < 2) return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
        return 0;
    }
}
