using System.Runtime.CompilerServices;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Gemm;

/// <summary>
/// The "conv.transpose" kernel family: float32 N-d grouped ConvTranspose as a GEMM plus a
/// scatter (col2im). Per image and group, T[(m, tap), p] = Σ_c W[c, m, tap]·X[c, p] over the
/// group's input channels c (A = Wᵀ, normally packed by the compiler: <c>[group][panel of 6 (m, tap)
/// rows][c][6]</c>; B = the input plane as it lies), then every T[(m, tap), p] is added to
/// Y[m, p·stride − pad + tap·dilation] when that lands inside the output. Workgroups own whole
/// output channels, so no two write the same element; the epilogue (bias, activation...) runs on
/// a workgroup's channels once all its taps are in.
/// <para>Descriptor (little-endian):</para>
/// <code>
/// u8 version (1) · u8 flags (1: weights prepacked) · u32 channels per group · u32 filters per group · u32 groups
/// · window (<see cref="ConvWindow"/>) · epilogue (<see cref="Epilogue"/>)
/// </code>
/// Push constants: <c>[0] batch N · input sizes · output sizes · begin pads (rank each) · epilogue operand strides</c>.
/// Bindings: X [N, C, in...], W (packed, or [C, M / groups, kernel...]), epilogue operands, Y [N, M, out...].
/// </summary>
public sealed unsafe class ConvTransposeKernel : Kernel
{
    public const string KernelName = "conv.transpose";
    public const byte Version = 1;
    public const byte PrepackedWeights = 1;
    /// <summary>Input pixels per GEMM block (the block of T is scattered before the next is computed).</summary>
    private const int PixelBlock = 128;
    /// <summary>About this many rows (m, tap) of T per workgroup, so T's block stays in L2.</summary>
    private const int RowsPerChunk = 384;
    private const long MinParallelWork = 1 << 21;

    private readonly bool _prepacked;
    private readonly int _channels, _filters, _groups;
    private readonly ConvWindow _window;
    private readonly Epilogue _epilogue;
    private readonly Epilogue _none = new([]);

    private ConvTransposeKernel(bool prepacked, int channels, int filters, int groups, ConvWindow window, Epilogue epilogue)
    {
        _prepacked = prepacked;
        _channels = channels;
        _filters = filters;
        _groups = groups;
        _window = window;
        _epilogue = epilogue;
    }

    public override string Name => KernelName;

    /// <summary>Floats of the packed weights of one group: (filters per group × taps) rows over the group's channels.</summary>
    public static long PackedGroupLength(int channelsPerGroup, int filtersPerGroup, int taps) =>
        PanelLayout.PackedLength((long)filtersPerGroup * taps, channelsPerGroup, PanelLayout.Rows);

    public static byte[] Encode(bool prepacked, int channelsPerGroup, int filtersPerGroup, int groups, ConvWindow window, Epilogue epilogue)
    {
        var bytes = new List<byte> { Version, prepacked ? PrepackedWeights : (byte)0 };
        foreach (int v in new[] { channelsPerGroup, filtersPerGroup, groups }) bytes.AddRange(BitConverter.GetBytes((uint)v));
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
        byte flags = r.U8();
        if ((flags & ~PrepackedWeights) != 0) throw r.Invalid($"unknown flags {flags}");
        uint channels = r.U32(), filters = r.U32(), groups = r.U32();
        var window = ConvWindow.Decode(ref r);
        var epilogue = Epilogue.Decode(ref r);
        r.ExpectEnd();
        if (channels is 0 or > 1 << 20 || filters is 0 or > 1 << 20 || groups is 0 or > 1 << 20)
            throw r.Invalid($"channels {channels}, filters {filters}, groups {groups} out of range");
        if ((long)filters * window.Taps > 1 << 24) throw r.Invalid("filters × kernel taps is too large");
        if (bindingCount != 3 + epilogue.OperandCount) throw r.Invalid($"has {bindingCount} bindings, expected {3 + epilogue.OperandCount}");
        if (constantCount != ConstantCount(window, epilogue)) throw r.Invalid($"has {constantCount} constants, expected {ConstantCount(window, epilogue)}");
        return new ConvTransposeKernel((flags & PrepackedWeights) != 0, (int)channels, (int)filters, (int)groups, window, epilogue);
    }

    private int OutputBinding => 2 + _epilogue.OperandCount;
    private int EpilogueConstants => 1 + ConvGeometry.ConstantCount(_window);
    private int Taps => _window.Taps;

    /// <summary>Output channels per workgroup: about <see cref="RowsPerChunk"/> rows of T, a whole number of row panels.</summary>
    private int ChannelsPerChunk
    {
        get
        {
            // chunk · taps must be a multiple of the panel height, so every chunk starts on a panel.
            int unit = PanelLayout.Rows / (int)System.Numerics.BigInteger.GreatestCommonDivisor(Taps, PanelLayout.Rows);
            int chunk = Math.Max(1, RowsPerChunk / Taps / unit) * unit;
            return Math.Min(chunk, _filters);
        }
    }

    public override void Validate(in DispatchState d)
    {
        long n = d.Constant(0);
        if (n < 0) throw OutOfRange($"conv.transpose: negative batch {n}");
        var g = ConvGeometry.Read(_window, d, 1);
        try
        {
            long c = (long)_channels * _groups, m = (long)_filters * _groups;
            if (checked(n * c * g.InputPlane * sizeof(float)) > d.Binding(0).Length) throw OutOfRange("conv.transpose: X is smaller than its sizes");
            long weights = _prepacked ? _groups * PackedGroupLength(_channels, _filters, Taps) : c * _filters * Taps;
            if (checked(weights * sizeof(float)) > d.Binding(1).Length) throw OutOfRange("conv.transpose: W is smaller than its sizes");
            if (checked(n * m * g.OutputPlane * sizeof(float)) > d.Binding(OutputBinding).Length) throw OutOfRange("conv.transpose: Y is smaller than its sizes");
            _epilogue.Validate(d, 2, EpilogueConstants, n, m, g.OutputPlane);
        }
        catch (OverflowException)
        {
            throw OutOfRange("conv.transpose: sizes overflow");
        }
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        long n = d.Constant(0);
        var g = ConvGeometry.Read(_window, d, 1);
        if (n == 0 || g.OutputPlane == 0) return (0, 0, 0);
        int chunks = (_filters + ChannelsPerChunk - 1) / ChannelsPerChunk;
        long work = n * _groups * _filters * Taps * g.InputPlane * _channels;
        // On one worker, or for little work, one workgroup per image and group does all channels.
        if (env.WorkerCount <= 1 || work < MinParallelWork) chunks = 1;
        return (chunks, _groups, (int)n);
    }

    public override int ScratchBytes(in DispatchState d) =>
        checked((int)((GemmDriver.ScratchFloats(!_prepacked, true, PixelBlock) + (long)ChannelsPerChunk * Taps * PixelBlock) * sizeof(float)));

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        var g = ConvGeometry.Read(_window, d, 1);
        int chunk = ChannelsPerChunk;
        // One workgroup per image and group does every channel chunk; otherwise one chunk each.
        int first = d.WorkgroupCountX == 1 ? 0 : wg.X * chunk, last = d.WorkgroupCountX == 1 ? _filters : Math.Min(_filters, first + chunk);
        for (int m0 = first; m0 < last; m0 += chunk) RunChunk(d, g, (float*)wg.Scratch, wg.Y, wg.Z, m0, Math.Min(last, m0 + chunk));
    }

    /// <summary>Output channels [m0, m1) of one image and group: GEMM block by block, each scattered, then the epilogue.</summary>
    private void RunChunk(in DispatchState d, in ConvGeometry g, float* scratch, int group, int image, int m0, int m1)
    {
        int taps = Taps;
        long c = (long)_channels * _groups, m = (long)_filters * _groups;
        long inPlane = g.InputPlane, outPlane = g.OutputPlane;
        float* x = (float*)d.Binding(0).Data + (image * c + group * _channels) * inPlane;
        float* w = (float*)d.Binding(1).Data;
        float* y = (float*)d.Binding(OutputBinding).Data + (image * m + group * _filters + m0) * outPlane;
        new Span<float>(y, checked((int)((m1 - m0) * outPlane))).Clear();

        float* t = scratch;
        float* gemmScratch = t + (long)ChannelsPerChunk * taps * PixelBlock;
        var none = new EpilogueTarget(_none, d, 0, 0, 0, 0);
        var b = new StridedColumns(x, inPlane, 1);
        int row0 = m0 * taps, rows = (m1 - m0) * taps;
        for (long p0 = 0; p0 < inPlane; p0 += PixelBlock)
        {
            int columns = (int)Math.Min(PixelBlock, inPlane - p0);
            // The driver addresses C by absolute (row, column): shift T's origin so (row0, p0) is its first element.
            float* origin = t - (long)row0 * PixelBlock - p0;
            if (_prepacked)
                GemmDriver.Run(new PrepackedPanels(w + group * PackedGroupLength(_channels, _filters, taps), _channels, PanelLayout.Rows), b,
                    row0, rows, p0, columns, _channels, origin, PixelBlock, none, gemmScratch);
            else
                GemmDriver.Run(new StridedRows(w + (long)group * _channels * _filters * taps, 1, (long)_filters * taps), b,
                    row0, rows, p0, columns, _channels, origin, PixelBlock, none, gemmScratch);
            Scatter(g, t, m1 - m0, p0, columns, y);
        }
        new EpilogueTarget(_epilogue, d, 2, EpilogueConstants, image, group * _filters)
            .Apply(m0, 0, m1 - m0, (int)outPlane, y, outPlane);
    }

    /// <summary>Adds T's block (rows (channel, tap) × input pixels [p0, p0 + columns)) into the output planes at y.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Scatter(in ConvGeometry g, float* t, int channels, long p0, int columns, float* y)
    {
        int taps = Taps;
        long outPlane = g.OutputPlane;
        long rowPixels = g.InW, slicePixels = (long)g.InH * g.InW;
        for (int ch = 0; ch < channels; ch++)
        {
            float* plane = y + ch * outPlane;
            for (int tap = 0; tap < taps; tap++)
            {
                int kd = tap / (g.KH * g.KW), kh = tap / g.KW % g.KH, kw = tap % g.KW;
                float* row = t + ((long)ch * taps + tap) * PixelBlock;
                // Walk the block in runs along the input's rows.
                for (int j = 0; j < columns;)
                {
                    long p = p0 + j;
                    int id = (int)(p / slicePixels), ih = (int)(p % slicePixels / rowPixels), iw = (int)(p % rowPixels);
                    int length = (int)Math.Min(columns - j, rowPixels - iw);
                    int od = id * g.SD - g.PadD + kd * g.DD, oh = ih * g.SH - g.PadH + kh * g.DH;
                    if ((uint)od < (uint)g.OutD && (uint)oh < (uint)g.OutH)
                    {
                        float* outRow = plane + ((long)od * g.OutH + oh) * g.OutW;
                        int ow = iw * g.SW - g.PadW + kw * g.DW;
                        float* src = row + j;
                        for (int i = 0; i < length; i++, ow += g.SW)
                            if ((uint)ow < (uint)g.OutW) outRow[ow] += src[i];
                    }
                    j += length;
                }
            }
        }
    }
}
