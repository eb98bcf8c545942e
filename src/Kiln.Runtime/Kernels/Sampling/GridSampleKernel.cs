using System.Numerics;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Kernels.Support;

namespace Kiln.Runtime.Kernels.Sampling;

public enum GridSampleMode : byte { Linear = 0, Nearest = 1, Cubic = 2 }

public enum GridPadding : byte { Zeros = 0, Border = 1, Reflection = 2 }

/// <summary>
/// The portable "grid-sample" kernel: GridSample of X [N, C, D1..Dk] at the normalized positions
/// of grid [N, O1..Ok, k] (x, the last axis, first), giving [N, C, O1..Ok]. A work item is one
/// output position of one image: its taps (per-axis indices and weights, outer product, in the
/// reference's double arithmetic with pixel coordinates rounded to float32) are found once and
/// applied to every channel. Weighted sums are in double, rounded to X's type once.
/// Descriptor (little-endian): <c>u8 version(1) · u8 dtype (float32 | float64) · u8 grid dtype (float16 | float32 | float64) · u8 k (1..3) · u8 mode · u8 padding · u8 align_corners</c>.
/// Push constants: N, C, the k input sizes, the k output sizes. Bindings: X, grid, Y.
/// </summary>
public sealed unsafe class GridSampleKernel : Kernel
{
    public const string KernelName = "grid-sample";
    public const byte Version = 1;
    public const int MaxSpatialRank = 3;
    private const double CubicA = -0.75;

    private readonly DType _dtype, _gridDType;
    private readonly int _k;
    private readonly GridSampleMode _mode;
    private readonly GridPadding _padding;
    private readonly bool _alignCorners;

    private GridSampleKernel(DType dtype, DType gridDType, int k, GridSampleMode mode, GridPadding padding, bool alignCorners) =>
        (_dtype, _gridDType, _k, _mode, _padding, _alignCorners) = (dtype, gridDType, k, mode, padding, alignCorners);

    public static byte[] Encode(DType dtype, DType gridDType, int k, GridSampleMode mode, GridPadding padding, bool alignCorners) =>
        [Version, (byte)dtype, (byte)gridDType, (byte)k, (byte)mode, (byte)padding, (byte)(alignCorners ? 1 : 0)];

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        byte dtype = r.U8(), grid = r.U8(), k = r.U8(), mode = r.U8(), padding = r.U8(), align = r.U8();
        r.ExpectEnd();
        if (dtype is not ((byte)DType.Float32 or (byte)DType.Float64)) throw r.Invalid($"dtype {dtype} is not float32 or float64");
        if (grid is not ((byte)DType.Float16 or (byte)DType.Float32 or (byte)DType.Float64)) throw r.Invalid($"grid dtype {grid} is not a float type");
        if (k is < 1 or > MaxSpatialRank) throw r.Invalid($"spatial rank {k} is outside [1, {MaxSpatialRank}]");
        if (mode > (byte)GridSampleMode.Cubic || padding > (byte)GridPadding.Reflection || align > 1) throw r.Invalid("unknown mode, padding or align_corners");
        if (bindingCount != 3 || constantCount != 2 + 2 * k) throw r.Invalid($"needs 3 bindings and {2 + 2 * k} constants, has {bindingCount} and {constantCount}");
        return new GridSampleKernel((DType)dtype, (DType)grid, k, (GridSampleMode)mode, (GridPadding)padding, align == 1);
    }

    public override string Name => KernelName;

    public override void Validate(in DispatchState d)
    {
        foreach (long v in d.ConstantSpan) KernelChecks.Size(KernelName, v, "a dimension");
        var c = d.ConstantSpan;
        long images = c[0], channels = c[1];
        long inPlane = KernelChecks.Product(KernelName, c.Slice(2, _k)), outPlane = KernelChecks.Product(KernelName, c.Slice(2 + _k, _k));
        if (inPlane > int.MaxValue) throw KernelChecks.Error(KernelName, $"input planes of {inPlane} elements");
        long planes = KernelChecks.Multiply(KernelName, images, channels);
        KernelChecks.Holds(KernelName, d, 0, KernelChecks.Multiply(KernelName, planes, inPlane), _dtype.Size(), "X");
        KernelChecks.Holds(KernelName, d, 1, KernelChecks.Multiply(KernelName, KernelChecks.Multiply(KernelName, images, outPlane), _k), _gridDType.Size(), "grid");
        KernelChecks.Holds(KernelName, d, 2, KernelChecks.Multiply(KernelName, planes, outPlane), _dtype.Size(), "Y");
    }

    private int AxisTaps => _mode switch { GridSampleMode.Nearest => 1, GridSampleMode.Linear => 2, _ => 4 };

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        long outPlane = 1;
        for (int a = 0; a < _k; a++) outPlane *= d.Constant(2 + _k + a);
        return (WorkSplit.Groups(d.Constant(0) * outPlane, d.Constant(1) * (long)Math.Pow(AxisTaps, _k), env), 1, 1);
    }

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        if (_dtype == DType.Float32) Run<float>(d, wg);
        else Run<double>(d, wg);
    }

    private void Run<T>(in DispatchState d, in WorkgroupState wg) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var size = d.ConstantSpan.Slice(2, _k);
        long channels = d.Constant(1), inPlane = 1, outPlane = 1;
        for (int a = 0; a < _k; a++) { inPlane *= size[a]; outPlane *= d.Constant(2 + _k + a); }
        int axisTaps = AxisTaps, taps = (int)Math.Pow(axisTaps, _k);
        Span<long> axisIndex = stackalloc long[MaxSpatialRank * 4];
        Span<double> axisWeight = stackalloc double[MaxSpatialRank * 4];
        Span<long> offsets = stackalloc long[64];
        Span<double> weights = stackalloc double[64];
        Span<int> tap = stackalloc int[MaxSpatialRank];
        T* x = (T*)d.Binding(0).Data, y = (T*)d.Binding(2).Data;
        byte* grid = d.Binding(1).Data;
        var (start, end) = WorkSplit.Range(wg.X, d.WorkgroupCountX, d.Constant(0) * outPlane);
        for (long item = start; item < end; item++)
        {
            long n = item / outPlane, o = item % outPlane;
            for (int a = 0; a < _k; a++)
                AxisTapsAt(GridValue(grid, item * _k + (_k - 1 - a)), size[a], axisIndex.Slice(a * 4, axisTaps), axisWeight.Slice(a * 4, axisTaps));

            // The outer product of the per-axis taps, row-major over the axes.
            tap.Clear();
            for (int t = 0; t < taps; t++)
            {
                long offset = 0;
                double weight = 1;
                for (int a = 0; a < _k; a++)
                {
                    long i = axisIndex[a * 4 + tap[a]];
                    offset = offset < 0 || i < 0 ? -1 : offset * size[a] + i;
                    weight *= axisWeight[a * 4 + tap[a]];
                }
                offsets[t] = offset;
                weights[t] = weight;
                for (int a = _k - 1; a >= 0 && ++tap[a] == axisTaps; a--) tap[a] = 0;
            }

            for (long c = 0; c < channels; c++)
            {
                T* plane = x + (n * channels + c) * inPlane;
                double value = 0;
                for (int t = 0; t < taps; t++)
                    if (offsets[t] >= 0) value += weights[t] * double.CreateTruncating(plane[offsets[t]]);
                y[(n * channels + c) * outPlane + o] = T.CreateTruncating(value);
            }
        }
    }

    private double GridValue(byte* grid, long i) => _gridDType switch
    {
        DType.Float64 => ((double*)grid)[i],
        DType.Float16 => (double)((Half*)grid)[i],
        _ => ((float*)grid)[i],
    };

    /// <summary>The input indices (−1: a zero from padding) and weights along one axis for a normalized grid coordinate.</summary>
    private void AxisTapsAt(double normalized, long size, Span<long> index, Span<double> weight)
    {
        // The reference keeps pixel coordinates in float32.
        double v = (float)(_alignCorners ? (normalized + 1) / 2 * (size - 1) : ((normalized + 1) * size - 1) / 2);
        if (_mode == GridSampleMode.Nearest) v = Math.Round(v, MidpointRounding.ToEven);
        var (low, high) = _alignCorners ? (0.0, size - 1.0) : (-0.5, size - 0.5);
        if (v < low || v > high)
            v = _padding switch { GridPadding.Border => Math.Clamp(v, 0, size - 1), GridPadding.Reflection => Reflect(v, low, high), _ => v };
        if (_mode == GridSampleMode.Nearest)
        {
            index[0] = (long)v;
            weight[0] = 1;
        }
        else
        {
            long first = (long)Math.Floor(v);
            double t = v - first;
            if (_mode == GridSampleMode.Linear)
            {
                (index[0], index[1]) = (first, first + 1);
                (weight[0], weight[1]) = (1 - t, t);
            }
            else
            {
                for (int j = 0; j < 4; j++) index[j] = first - 1 + j;
                (weight[0], weight[1], weight[2], weight[3]) = (Cubic(t + 1), Cubic(t), Cubic(1 - t), Cubic(2 - t));
            }
        }
        for (int j = 0; j < index.Length; j++) index[j] = Pixel(index[j], size, low, high);
    }

    /// <summary>The input index a tap reads, or −1 for a zero (padding zeros); never outside [0, size) otherwise.</summary>
    private long Pixel(long i, long size, double low, double high)
    {
        if (i >= 0 && i < size) return i;
        return _padding switch
        {
            GridPadding.Zeros => -1,
            GridPadding.Border => Math.Clamp(i, 0, size - 1),
            _ => Math.Clamp((long)Reflect(i, low, high), 0, size - 1),
        };
    }

    private static double Cubic(double d)
    {
        d = Math.Abs(d);
        if (d <= 1) return ((CubicA + 2) * d - (CubicA + 3)) * d * d + 1;
        if (d < 2) return ((CubicA * d - 5 * CubicA) * d + 8 * CubicA) * d - 4 * CubicA;
        return 0;
    }

    /// <summary>Mirrors x at the borders until it lies within [low, high].</summary>
    private static double Reflect(double x, double low, double high)
    {
        double range = high - low;
        if (range <= 0) return low;
        if (x < low)
        {
            double d = low - x, r = d % range;
            return (long)(d / range) % 2 == 0 ? low + r : high - r;
        }
        if (x > high)
        {
            double d = x - high, r = d % range;
            return (long)(d / range) % 2 == 0 ? high - r : low + r;
        }
        return x;
    }
}
