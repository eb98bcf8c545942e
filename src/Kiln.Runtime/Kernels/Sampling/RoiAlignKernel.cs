using System.Buffers.Binary;
using System.Numerics;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Kernels.Support;

namespace Kiln.Runtime.Kernels.Sampling;

/// <summary>
/// The portable "roi-align" kernel: RoiAlign(X [N, C, H, W], rois [R, 4], batch_indices [R]) →
/// [R, C, oh, ow]. Each region is split into oh × ow bins, each bin samples a regular grid of
/// points by bilinear interpolation and reduces them by their average (or, in max mode, by the
/// largest weighted corner), in the reference's double arithmetic. A work item is one (region,
/// channel) pair. Regions are checked before the dispatch runs: batch indices in range, finite
/// sizes, sampling grids of at most 4096 per side.
/// Descriptor (little-endian): <c>u8 version(1) · u8 dtype (float32 | float64) · u8 max mode · u8 half_pixel · f64 spatial_scale · i64 sampling_ratio · i64 output_height · i64 output_width</c>.
/// Push constants: N, C, H, W, R. Bindings: X, rois (X's dtype), batch_indices (int64), Y.
/// </summary>
public sealed unsafe class RoiAlignKernel : Kernel
{
    public const string KernelName = "roi-align";
    public const byte Version = 1;
    private const long MaxGrid = 1 << 12;

    private readonly DType _dtype;
    private readonly bool _max, _halfPixel;
    private readonly double _scale;
    private readonly long _samplingRatio, _outH, _outW;

    private RoiAlignKernel(DType dtype, bool max, bool halfPixel, double scale, long samplingRatio, long outH, long outW) =>
        (_dtype, _max, _halfPixel, _scale, _samplingRatio, _outH, _outW) = (dtype, max, halfPixel, scale, samplingRatio, outH, outW);

    public static byte[] Encode(DType dtype, bool max, bool halfPixel, double scale, long samplingRatio, long outH, long outW)
    {
        var bytes = new byte[36];
        (bytes[0], bytes[1], bytes[2], bytes[3]) = (Version, (byte)dtype, (byte)(max ? 1 : 0), (byte)(halfPixel ? 1 : 0));
        BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(4), scale);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(12), samplingRatio);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(20), outH);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(28), outW);
        return bytes;
    }

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        byte dtype = r.U8(), max = r.U8(), halfPixel = r.U8();
        double scale = BitConverter.Int64BitsToDouble(r.I64());
        long samplingRatio = r.I64(), outH = r.I64(), outW = r.I64();
        r.ExpectEnd();
        if (dtype is not ((byte)DType.Float32 or (byte)DType.Float64)) throw r.Invalid($"dtype {dtype} is not float32 or float64");
        if (max > 1 || halfPixel > 1) throw r.Invalid("unknown mode or coordinate transformation");
        if (samplingRatio is < 0 or > MaxGrid || outH is < 1 or > 1 << 20 || outW is < 1 or > 1 << 20) throw r.Invalid("sampling_ratio or output size out of range");
        if (bindingCount != 4 || constantCount != 5) throw r.Invalid($"needs 4 bindings and 5 constants, has {bindingCount} and {constantCount}");
        return new RoiAlignKernel((DType)dtype, max == 1, halfPixel == 1, scale, samplingRatio, outH, outW);
    }

    public override string Name => KernelName;

    /// <summary>A region in input pixels, and its sampling grid per bin.</summary>
    private readonly record struct Region(double StartH, double StartW, double BinH, double BinW, long GridH, long GridW);

    private Region RegionOf(in DispatchState d, long r)
    {
        double offset = _halfPixel ? 0.5 : 0;
        double x1 = Read(d, r * 4), y1 = Read(d, r * 4 + 1), x2 = Read(d, r * 4 + 2), y2 = Read(d, r * 4 + 3);
        double startW = x1 * _scale - offset, startH = y1 * _scale - offset;
        double roiW = x2 * _scale - offset - startW, roiH = y2 * _scale - offset - startH;
        if (!_halfPixel)
        {
            // Malformed boxes become 1 x 1.
            roiW = Math.Max(roiW, 1);
            roiH = Math.Max(roiH, 1);
        }
        long gridH = _samplingRatio > 0 ? _samplingRatio : (long)Math.Ceiling(roiH / _outH);
        long gridW = _samplingRatio > 0 ? _samplingRatio : (long)Math.Ceiling(roiW / _outW);
        return new Region(startH, startW, roiH / _outH, roiW / _outW, gridH, gridW);
    }

    private double Read(in DispatchState d, long i) =>
        _dtype == DType.Float64 ? ((double*)d.Binding(1).Data)[i] : ((float*)d.Binding(1).Data)[i];

    public override void Validate(in DispatchState d)
    {
        foreach (long v in d.ConstantSpan) KernelChecks.Size(KernelName, v, "a dimension");
        long n = d.Constant(0), c = d.Constant(1), h = d.Constant(2), w = d.Constant(3), regions = d.Constant(4);
        int size = _dtype.Size();
        KernelChecks.Holds(KernelName, d, 0, KernelChecks.Product(KernelName, d.ConstantSpan[..4]), size, "X");
        KernelChecks.Holds(KernelName, d, 1, KernelChecks.Multiply(KernelName, regions, 4), size, "rois");
        KernelChecks.Holds(KernelName, d, 2, regions, sizeof(long), "batch_indices");
        KernelChecks.Holds(KernelName, d, 3, KernelChecks.Multiply(KernelName, KernelChecks.Multiply(KernelName, regions, c), _outH * _outW), size, "Y");
        if (regions > 0 && c > 0 && (h == 0 || w == 0)) throw KernelChecks.Error(KernelName, "the image is empty");
        var batch = (long*)d.Binding(2).Data;
        for (long r = 0; r < regions; r++)
        {
            if (batch[r] < 0 || batch[r] >= n) throw KernelChecks.Error(KernelName, $"batch index {batch[r]} is out of range for {n} images");
            var g = RegionOf(d, r);
            if (!double.IsFinite(g.BinH) || !double.IsFinite(g.BinW)) throw KernelChecks.Error(KernelName, $"region {r} has a non-finite size");
            if (g.GridH > MaxGrid || g.GridW > MaxGrid) throw KernelChecks.Error(KernelName, $"region {r} needs a {g.GridH} x {g.GridW} sampling grid per bin; set sampling_ratio");
        }
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) =>
        (WorkSplit.Groups(d.Constant(4) * d.Constant(1), _outH * _outW * 16, env), 1, 1);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        if (_dtype == DType.Float32) Run<float>(d, wg);
        else Run<double>(d, wg);
    }

    private void Run<T>(in DispatchState d, in WorkgroupState wg) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long channels = d.Constant(1), height = d.Constant(2), width = d.Constant(3);
        T* x = (T*)d.Binding(0).Data, y = (T*)d.Binding(3).Data;
        var batch = (long*)d.Binding(2).Data;
        var (start, end) = WorkSplit.Range(wg.X, d.WorkgroupCountX, d.Constant(4) * channels);
        for (long item = start; item < end; item++)
        {
            long r = item / channels, c = item % channels;
            var g = RegionOf(d, r);
            T* plane = x + (batch[r] * channels + c) * height * width;
            T* target = y + item * _outH * _outW;
            long samples = Math.Max(g.GridH * g.GridW, 1);
            for (long ph = 0; ph < _outH; ph++)
                for (long pw = 0; pw < _outW; pw++)
                {
                    double value = 0;
                    bool first = true;
                    for (long iy = 0; iy < g.GridH; iy++)
                        for (long ix = 0; ix < g.GridW; ix++)
                        {
                            double sy = g.StartH + ph * g.BinH + (iy + 0.5) * g.BinH / g.GridH;
                            double sx = g.StartW + pw * g.BinW + (ix + 0.5) * g.BinW / g.GridW;
                            double sample = Sample(plane, sy, sx, height, width);
                            value = !_max ? value + sample : first ? sample : Math.Max(value, sample);
                            first = false;
                        }
                    target[ph * _outW + pw] = T.CreateTruncating(_max ? value : value / samples);
                }
        }
    }

    /// <summary>The bilinear value at (y, x) (avg), or the largest weighted corner (max); 0 beyond a pixel outside the image.</summary>
    private double Sample<T>(T* plane, double y, double x, long height, long width) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (y < -1 || y > height || x < -1 || x > width) return 0;
        y = Math.Max(y, 0);
        x = Math.Max(x, 0);
        long yLow = (long)y, xLow = (long)x, yHigh, xHigh;
        if (yLow >= height - 1) { yHigh = yLow = height - 1; y = yLow; } else yHigh = yLow + 1;
        if (xLow >= width - 1) { xHigh = xLow = width - 1; x = xLow; } else xHigh = xLow + 1;
        double ly = y - yLow, lx = x - xLow, hy = 1 - ly, hx = 1 - lx;
        double p1 = hy * hx * double.CreateTruncating(plane[yLow * width + xLow]), p2 = hy * lx * double.CreateTruncating(plane[yLow * width + xHigh]);
        double p3 = ly * hx * double.CreateTruncating(plane[yHigh * width + xLow]), p4 = ly * lx * double.CreateTruncating(plane[yHigh * width + xHigh]);
        return _max ? Math.Max(Math.Max(p1, p2), Math.Max(p3, p4)) : p1 + p2 + p3 + p4;
    }
}
