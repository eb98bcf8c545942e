using System.Numerics;
using System.Numerics.Tensors;
using Kiln.Ir;

namespace Kiln.Ops;

public enum ResizeMode { Nearest, Linear, Cubic }

/// <summary>Resize's attributes (opset 19 form; tf_half_pixel_for_nn survives from opset 11 models).</summary>
public sealed record ResizeSettings(
    ResizeMode Mode, string CoordinateMode, string NearestMode, double CubicA, bool ExcludeOutside,
    double ExtrapolationValue, bool Antialias);

/// <summary>
/// The one-dimensional resampling of one axis: for every output coordinate, the input indices it
/// reads and their weights, or "outside" (tf_crop_and_resize beyond the input: the result is the
/// extrapolation value). Resize is separable, so an N-d resize applies these axis by axis.
/// </summary>
public sealed class AxisResampling
{
    private readonly int[] _start;
    private readonly int[] _index;
    private readonly double[] _weight;

    public bool[] Outside { get; }
    public int OutputLength => Outside.Length;

    public ReadOnlySpan<int> Indices(int o) => _index.AsSpan(_start[o], _start[o + 1] - _start[o]);
    public ReadOnlySpan<double> Weights(int o) => _weight.AsSpan(_start[o], _start[o + 1] - _start[o]);

    /// <summary>True when every output coordinate copies the input coordinate of the same index.</summary>
    public bool IsIdentity { get; }

    /// <param name="scale">The axis's scale (output / input), unrounded.</param>
    /// <param name="roiStart">tf_crop_and_resize's region start, as a fraction of the axis.</param>
    public AxisResampling(int input, int output, double scale, double roiStart, double roiEnd, ResizeSettings s)
    {
        _start = new int[output + 1];
        Outside = new bool[output];
        var index = new List<int>();
        var weight = new List<double>();
        for (int o = 0; o < output; o++)
        {
            double x = Original(o, input, output, scale, roiStart, roiEnd, s.CoordinateMode);
            if (s.CoordinateMode == "tf_crop_and_resize" && (x < 0 || x > input - 1))
            {
                Outside[o] = true;
            }
            else if (s.Mode == ResizeMode.Nearest)
            {
                int i = Math.Clamp((int)Nearest(x, s.NearestMode), 0, input - 1);
                index.Add(i);
                weight.Add(1);
            }
            else AddFilterTaps(x, input, scale, s, index, weight);
            _start[o + 1] = index.Count;
        }
        _index = [.. index];
        _weight = [.. weight];
        IsIdentity = input == output && Enumerable.Range(0, output).All(CopiesSameIndex);
    }

    private bool CopiesSameIndex(int o)
    {
        if (Outside[o]) return false;
        var indices = Indices(o);
        var weights = Weights(o);
        double sum = 0;
        for (int t = 0; t < indices.Length; t++)
        {
            if (weights[t] == 0) continue;
            if (indices[t] != o) return false;
            sum += weights[t];
        }
        return sum == 1;
    }

    /// <summary>The input coordinate an output coordinate maps to.</summary>
    private static double Original(int o, int input, int output, double scale, double roiStart, double roiEnd, string mode)
    {
        // align_corners and tf_crop_and_resize use the unrounded resized length, as the ONNX reference does.
        double resized = scale * input;
        return mode switch
        {
            "half_pixel" => (o + 0.5) / scale - 0.5,
            "half_pixel_symmetric" => input / 2.0 * (1 - output / resized) + (o + 0.5) / scale - 0.5,
            "pytorch_half_pixel" => output > 1 ? (o + 0.5) / scale - 0.5 : 0,
            "align_corners" => resized == 1 ? 0 : o * (input - 1) / (resized - 1),
            "asymmetric" => o / scale,
            "tf_half_pixel_for_nn" => (o + 0.5) / scale,
            "tf_crop_and_resize" => resized == 1
                ? (roiEnd - roiStart) * (input - 1) / 2 + roiStart * (input - 1)
                : o * (roiEnd - roiStart) * (input - 1) / (resized - 1) + roiStart * (input - 1),
            _ => throw new KilnException(ErrorCode.InvalidModel, $"unknown coordinate_transformation_mode '{mode}'"),
        };
    }

    private static double Nearest(double x, string mode)
    {
        double f = Math.Floor(x);
        if (f == x) return x;
        double fraction = x - f;
        return mode switch
        {
            "round_prefer_floor" => fraction <= 0.5 ? f : f + 1,
            "round_prefer_ceil" => fraction < 0.5 ? f : f + 1,
            "floor" => f,
            "ceil" => f + 1,
            _ => throw new KilnException(ErrorCode.InvalidModel, $"unknown nearest_mode '{mode}'"),
        };
    }

    /// <summary>
    /// The taps of the linear (support 1) or cubic (support 2) filter around x, indices clamped to
    /// the edges. With antialias and scale below 1 the filter is stretched by 1 / scale and its
    /// weights normalized; exclude_outside drops taps beyond the edges and renormalizes.
    /// </summary>
    private static void AddFilterTaps(double x, int input, double scale, ResizeSettings s, List<int> index, List<double> weight)
    {
        double support = s.Mode == ResizeMode.Linear ? 1 : 2;
        double stretch = s.Antialias ? Math.Min(scale, 1) : 1;
        // The taps are base + t for t in [first, 1 - first], with x - base in (0, 1].
        double baseIndex = Math.Ceiling(x) - 1, ratio = x - baseIndex;
        int first = (int)Math.Floor(-support / stretch) + 1;
        int begin = index.Count;
        double sum = 0;
        for (int t = first; t <= 1 - first; t++)
        {
            double w = Kernel(stretch * (t - ratio), s);
            long i = (long)baseIndex + t;
            if (s.ExcludeOutside && (i < 0 || i >= input)) w = 0;
            index.Add((int)Math.Clamp(i, 0, input - 1));
            weight.Add(w);
            sum += w;
        }
        if ((s.Antialias || s.ExcludeOutside) && sum != 0)
            for (int k = begin; k < weight.Count; k++) weight[k] /= sum;
    }

    private static double Kernel(double d, ResizeSettings s)
    {
        d = Math.Abs(d);
        if (s.Mode == ResizeMode.Linear) return Math.Max(0, 1 - d);
        double a = s.CubicA;
        if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
        if (d < 2) return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
        return 0;
    }

    /// <summary>
    /// Resamples one axis of a row-major tensor viewed as [outer, input, inner] into
    /// [outer, output, inner], weighting input slices (vectorized along the inner axes).
    /// </summary>
    public void Apply<T>(ReadOnlySpan<T> src, Span<T> dst, int outer, int input, int inner) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int output = OutputLength;
        dst.Clear();
        for (int n = 0; n < outer; n++)
            for (int o = 0; o < output; o++)
            {
                var target = dst.Slice((n * output + o) * inner, inner);
                var indices = Indices(o);
                var weights = Weights(o);
                for (int t = 0; t < indices.Length; t++)
                {
                    var source = src.Slice((n * input + indices[t]) * inner, inner);
                    T w = T.CreateChecked(weights[t]);
                    if (inner == 1) target[0] += w * source[0];
                    else TensorPrimitives.MultiplyAdd(source, w, target, target);
                }
            }
    }
}
