using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Gemm;

/// <summary>
/// The "conv.depthwise" kernel family: float32 2-D depthwise convolution (one input channel per
/// group; output channel m reads input channel m / multiplier), computed directly. Each output
/// row is built eight pixels at a time with every tap of the window summed in a register — one
/// load and one FMA per tap, one store per eight outputs — over the columns where the whole window
/// lies inside the input (unit stride loads, or stride 2 as two loads deinterleaved); the border
/// columns take a bounds-checked scalar path. Rows of the window outside the input are skipped.
/// The epilogue (bias, activation...) runs on each output row while it is in L1; its results are
/// [image, output channel, pixel].
/// <para>Descriptor (little-endian):</para>
/// <code>u8 version (1) · u32 channels · u32 multiplier · window (<see cref="ConvWindow"/>, rank 2) · epilogue</code>
/// Push constants: <c>[0] batch N · input H, W · output H, W · begin pads H, W · epilogue operand strides</c>.
/// Bindings: X [N, C, H, W], W [C · multiplier, 1, KH, KW], epilogue operands, Y [N, C · multiplier, OH, OW].
/// </summary>
public sealed unsafe class DepthwiseConvKernel : Kernel
{
    public const string KernelName = "conv.depthwise";
    public const byte Version = 1;
    /// <summary>Window taps the register-blocked path keeps broadcast (larger windows take the scalar path).</summary>
    private const int MaxVectorTaps = 49;
    private const long MinParallelWork = 1 << 19;

    private readonly int _channels, _multiplier;
    private readonly ConvWindow _window;
    private readonly Epilogue _epilogue;
    private readonly bool _direct;

    private DepthwiseConvKernel(int channels, int multiplier, ConvWindow window, Epilogue epilogue)
    {
        _direct = DepthwiseDirect.Applies(window);
        _channels = channels;
        _multiplier = multiplier;
        _window = window;
        _epilogue = epilogue;
    }

    public override string Name => KernelName;

    public static byte[] Encode(int channels, int multiplier, ConvWindow window, Epilogue epilogue)
    {
        var bytes = new List<byte> { Version };
        bytes.AddRange(BitConverter.GetBytes((uint)channels));
        bytes.AddRange(BitConverter.GetBytes((uint)multiplier));
        window.Encode(bytes);
        epilogue.Encode(bytes);
        return bytes.ToArray();
    }

    public static int ConstantCount(ConvWindow window, Epilogue epilogue) =>
        1 + ConvGeometry.ConstantCount(window) + Epilogue.ConstantsPerOperand * epilogue.OperandCount;

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        uint channels = r.U32(), multiplier = r.U32();
        var window = ConvWindow.Decode(ref r);
        var epilogue = Epilogue.Decode(ref r);
        r.ExpectEnd();
        if (channels is 0 or > 1 << 20 || multiplier is 0 or > 1 << 20) throw r.Invalid($"channels {channels}, multiplier {multiplier} out of range");
        if (window.Rank != 2) throw r.Invalid($"depthwise windows are 2-D, got rank {window.Rank}");
        if (bindingCount != 3 + epilogue.OperandCount) throw r.Invalid($"has {bindingCount} bindings, expected {3 + epilogue.OperandCount}");
        if (constantCount != ConstantCount(window, epilogue)) throw r.Invalid($"has {constantCount} constants, expected {ConstantCount(window, epilogue)}");
        return new DepthwiseConvKernel((int)channels, (int)multiplier, window, epilogue);
    }

    private int OutputBinding => 2 + _epilogue.OperandCount;
    private int EpilogueConstants => 1 + ConvGeometry.ConstantCount(_window);
    private long Filters => (long)_channels * _multiplier;

    public override void Validate(in DispatchState d)
    {
        long n = d.Constant(0);
        if (n < 0) throw OutOfRange($"conv.depthwise: negative batch {n}");
        var g = ConvGeometry.Read(_window, d, 1);
        try
        {
            if (checked(n * _channels * g.InputPlane * sizeof(float)) > d.Binding(0).Length) throw OutOfRange("conv.depthwise: X is smaller than its sizes");
            if (checked(Filters * _window.Taps * sizeof(float)) > d.Binding(1).Length) throw OutOfRange("conv.depthwise: W is smaller than its sizes");
            if (checked(n * Filters * g.OutputPlane * sizeof(float)) > d.Binding(OutputBinding).Length) throw OutOfRange("conv.depthwise: Y is smaller than its sizes");
            _epilogue.Validate(d, 2, EpilogueConstants, n, Filters, g.OutputPlane);
        }
        catch (OverflowException)
        {
            throw OutOfRange("conv.depthwise: sizes overflow");
        }
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        long planes = d.Constant(0) * Filters;
        var g = ConvGeometry.Read(_window, d, 1);
        if (planes == 0 || g.OutputPlane == 0) return (0, 0, 0);
        if (env.WorkerCount <= 1 || planes * g.OutputPlane * _window.Taps < MinParallelWork) return (1, 1, 1);
        return ((int)Math.Min(planes, 4L * env.WorkerCount), 1, 1);
    }

    private bool IsDirect(in ConvGeometry g) => _direct && DepthwiseDirect.Fits(g);

    public override int ScratchBytes(in DispatchState d)
    {
        var g = ConvGeometry.Read(_window, d, 1);
        return IsDirect(g) ? (int)(DepthwiseDirect.ScratchFloats(g, _window.Taps) * sizeof(float)) : 0;
    }

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        var g = ConvGeometry.Read(_window, d, 1);
        long planes = d.Constant(0) * Filters;
        long per = (planes + d.WorkgroupCountX - 1) / d.WorkgroupCountX;
        long first = wg.X * per, last = Math.Min(planes, first + per);
        float* x = (float*)d.Binding(0).Data;
        float* w = (float*)d.Binding(1).Data;
        float* y = (float*)d.Binding(OutputBinding).Data;
        int taps = _window.Taps;
        if (IsDirect(g))
        {
            for (long plane = first; plane < last; plane++)
            {
                long image = plane / Filters, m = plane % Filters;
                float* input = x + (image * _channels + m / _multiplier) * g.InputPlane;
                float* output = y + plane * g.OutputPlane;
                var finish = new EpilogueRows(new EpilogueTarget(_epilogue, d, 2, EpilogueConstants, image, m), output, g.OutW);
                DepthwiseDirect.Run(input, g, w + m * taps, (float*)wg.Scratch, output, ref finish);
            }
            return;
        }
        Span<Vector256<float>> broadcast = stackalloc Vector256<float>[Math.Min(taps, MaxVectorTaps)];
        for (long plane = first; plane < last; plane++)
        {
            long image = plane / Filters, m = plane % Filters;
            float* input = x + (image * _channels + m / _multiplier) * g.InputPlane;
            float* weights = w + m * taps;
            float* output = y + plane * g.OutputPlane;
            if (taps <= MaxVectorTaps)
                for (int t = 0; t < taps; t++) broadcast[t] = Vector256.Create(weights[t]);
            for (int oh = 0; oh < g.OutH; oh++)
            {
                float* row = output + (long)oh * g.OutW;
                Row(g, input, weights, broadcast, oh, row);
                _epilogue.Apply(d, 2, EpilogueConstants, image, m, (long)oh * g.OutW, 1, g.OutW, row, g.OutW);
            }
        }
    }

    /// <summary>One output row: the interior eight pixels at a time with the whole window in registers, the rest scalar.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Row(in ConvGeometry g, float* input, float* weights, Span<Vector256<float>> broadcast, int oh, float* output)
    {
        // Window rows inside the input; the others add nothing.
        int kh0 = 0, kh1 = g.KH;
        int ih0 = oh * g.SH - g.PadH;
        while (kh0 < kh1 && (uint)(ih0 + kh0 * g.DH) >= (uint)g.InH) kh0++;
        while (kh1 > kh0 && (uint)(ih0 + (kh1 - 1) * g.DH) >= (uint)g.InH) kh1--;
        if (kh0 == kh1)
        {
            new Span<float>(output, g.OutW).Clear();
            return;
        }
        // Columns whose whole window (and, for stride 2, its 16-float load) lies inside the row.
        int reach = (g.KW - 1) * g.DW + (g.SW == 2 ? 1 : 0);
        int start = Math.Min(g.OutW, (g.PadW + g.SW - 1) / g.SW);
        int end = g.InW - 1 - reach + g.PadW < 0 ? 0 : Math.Min(g.OutW, (g.InW - 1 - reach + g.PadW) / g.SW + 1);
        int ow = 0;
        bool vector = Avx2.IsSupported && Fma.IsSupported && g.SW <= 2 && broadcast.Length == g.KH * g.KW;
        if (vector && end > start)
        {
            for (; ow < start; ow++) output[ow] = Scalar(g, input, weights, kh0, kh1, ih0, ow);
            // Four independent accumulators (32 pixels) hide the FMA latency; then eight at a time.
            int step = 8 * g.SW;
            for (; ow + 32 <= end; ow += 32)
            {
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                int iw = ow * g.SW - g.PadW;
                for (int kh = kh0; kh < kh1; kh++)
                {
                    float* src = input + (long)(ih0 + kh * g.DH) * g.InW + iw;
                    int t = kh * g.KW;
                    if (g.SW == 1)
                        for (int kw = 0; kw < g.KW; kw++, src += g.DW)
                        {
                            var b = broadcast[t + kw];
                            a0 = Fma.MultiplyAdd(Avx.LoadVector256(src), b, a0);
                            a1 = Fma.MultiplyAdd(Avx.LoadVector256(src + 8), b, a1);
                            a2 = Fma.MultiplyAdd(Avx.LoadVector256(src + 16), b, a2);
                            a3 = Fma.MultiplyAdd(Avx.LoadVector256(src + 24), b, a3);
                        }
                    else
                        for (int kw = 0; kw < g.KW; kw++, src += g.DW)
                        {
                            var b = broadcast[t + kw];
                            a0 = Fma.MultiplyAdd(Evens(src), b, a0);
                            a1 = Fma.MultiplyAdd(Evens(src + step), b, a1);
                            a2 = Fma.MultiplyAdd(Evens(src + 2 * step), b, a2);
                            a3 = Fma.MultiplyAdd(Evens(src + 3 * step), b, a3);
                        }
                }
                a0.Store(output + ow);
                a1.Store(output + ow + 8);
                a2.Store(output + ow + 16);
                a3.Store(output + ow + 24);
            }
            for (; ow < end; ow += 8)
            {
                // The interior's last pixels: a block ending at 'end', overlapping the one before (same values).
                if (ow + 8 > end)
                {
                    if (end - 8 < start) break;
                    ow = end - 8;
                }
                var acc = Vector256<float>.Zero;
                int iw = ow * g.SW - g.PadW;
                for (int kh = kh0; kh < kh1; kh++)
                {
                    float* src = input + (long)(ih0 + kh * g.DH) * g.InW + iw;
                    int t = kh * g.KW;
                    if (g.SW == 1)
                        for (int kw = 0; kw < g.KW; kw++, src += g.DW) acc = Fma.MultiplyAdd(Avx.LoadVector256(src), broadcast[t + kw], acc);
                    else
                        for (int kw = 0; kw < g.KW; kw++, src += g.DW) acc = Fma.MultiplyAdd(Evens(src), broadcast[t + kw], acc);
                }
                acc.Store(output + ow);
            }
        }
        for (; ow < g.OutW; ow++) output[ow] = Scalar(g, input, weights, kh0, kh1, ih0, ow);
    }

    /// <summary>src[0], src[2], ..., src[14] (reads src[0..16)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Evens(float* src)
    {
        var pairs = Avx.Shuffle(Avx.LoadVector256(src), Avx.LoadVector256(src + 8), 0x88);
        return Avx2.Permute4x64(pairs.AsDouble(), 0xD8).AsSingle();
    }

    /// <summary>One output pixel with every tap bounds-checked.</summary>
    private static float Scalar(in ConvGeometry g, float* input, float* weights, int kh0, int kh1, int ih0, int ow)
    {
        float sum = 0;
        int iw0 = ow * g.SW - g.PadW;
        for (int kh = kh0; kh < kh1; kh++)
        {
            float* row = input + (long)(ih0 + kh * g.DH) * g.InW;
            for (int kw = 0; kw < g.KW; kw++)
            {
                int iw = iw0 + kw * g.DW;
                if ((uint)iw < (uint)g.InW) sum += weights[kh * g.KW + kw] * row[iw];
            }
        }
        return sum;
    }

    /// <summary>Runs the epilogue on output rows of one plane as the direct path finishes them.</summary>
    private readonly struct EpilogueRows(EpilogueTarget target, float* plane, int width) : IRowsFinished
    {
        public void Finished(int row, int count) => target.Apply(0, (long)row * width, 1, count * width, plane + (long)row * width, (long)count * width);
    }
}
