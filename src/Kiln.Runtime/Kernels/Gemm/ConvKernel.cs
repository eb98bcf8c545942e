using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Gemm;

/// <summary>
/// The "conv" kernel family: float32 N-d grouped convolution (1 to 3 spatial axes, strides,
/// dilations, pads) as a GEMM per image and group: Y[m, p] = Σ_k W[m, k]·B[k, p] over the group's
/// depth k = (channel, kernel tap), with B packed from the input as it runs (implicit im2col; a
/// pointwise convolution packs the input plane as it lies). The weights are A, normally packed
/// by the compiler into row panels: <c>[group][panel of 6 filters][k][6]</c>. An epilogue (bias,
/// activation, residual...) runs on each output block while it is in cache; its results are
/// [image, output channel, pixel].
/// <para>Descriptor (little-endian):</para>
/// <code>
/// u8 version (1) · u8 flags (1: weights prepacked) · u32 channels per group · u32 filters per group · u32 groups
/// · window (<see cref="ConvWindow"/>) · epilogue (<see cref="Epilogue"/>)
/// </code>
/// Push constants: <c>[0] batch N · input sizes · output sizes · begin pads (rank each) · epilogue operand strides</c>.
/// Bindings: X [N, C, in...], W (packed, or [M, C / groups, kernel...]), epilogue operands, Y [N, M, out...].
/// </summary>
public sealed unsafe class ConvKernel : Kernel
{
    public const string KernelName = "conv";
    public const byte Version = 1;
    public const byte PrepackedWeights = 1;
    /// <summary>Convolutions with fewer multiply-adds than this are not split across workers.</summary>
    private const long MinParallelWork = 1 << 21;
    /// <summary>Smallest pixel chunk worth a workgroup of its own.</summary>
    private const int MinChunkPixels = 4 * PanelLayout.Columns;

    private readonly bool _prepacked, _direct, _directPointwise;
    private readonly int _channels, _filters, _groups;
    private readonly ConvWindow _window;
    private readonly Epilogue _epilogue;

    private ConvKernel(bool prepacked, int channels, int filters, int groups, ConvWindow window, Epilogue epilogue)
    {
        _prepacked = prepacked;
        _direct = DirectConv.Applies(window, prepacked);
        _directPointwise = DirectConv.AppliesPointwise(prepacked, channels);
        _channels = channels;
        _filters = filters;
        _groups = groups;
        _window = window;
        _epilogue = epilogue;
    }

    public override string Name => KernelName;

    /// <summary>GEMM depth of one group: channels per group × kernel taps.</summary>
    private int Depth => _channels * _window.Taps;

    /// <summary>Floats of the packed weights of one group.</summary>
    public static long PackedGroupLength(int channelsPerGroup, int filtersPerGroup, int taps) =>
        PanelLayout.PackedLength(filtersPerGroup, (long)channelsPerGroup * taps, PanelLayout.Rows);

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
        if ((long)channels * window.Taps > int.MaxValue / 2) throw r.Invalid("GEMM depth overflows");
        if (bindingCount != 3 + epilogue.OperandCount) throw r.Invalid($"has {bindingCount} bindings, expected {3 + epilogue.OperandCount}");
        if (constantCount != ConstantCount(window, epilogue)) throw r.Invalid($"has {constantCount} constants, expected {ConstantCount(window, epilogue)}");
        return new ConvKernel((flags & PrepackedWeights) != 0, (int)channels, (int)filters, (int)groups, window, epilogue);
    }

    private int OutputBinding => 2 + _epilogue.OperandCount;
    private int EpilogueConstants => 1 + ConvGeometry.ConstantCount(_window);

    public override void Validate(in DispatchState d)
    {
        long n = d.Constant(0);
        if (n < 0) throw OutOfRange($"conv: negative batch {n}");
        var g = ConvGeometry.Read(_window, d, 1);
        try
        {
            long c = (long)_channels * _groups, m = (long)_filters * _groups;
            if (checked(n * c * g.InputPlane * sizeof(float)) > d.Binding(0).Length) throw OutOfRange("conv: X is smaller than its sizes");
            long weights = _prepacked ? _groups * PackedGroupLength(_channels, _filters, _window.Taps) : m * Depth;
            if (checked(weights * sizeof(float)) > d.Binding(1).Length) throw OutOfRange("conv: W is smaller than its sizes");
            if (checked(n * m * g.OutputPlane * sizeof(float)) > d.Binding(OutputBinding).Length) throw OutOfRange("conv: Y is smaller than its sizes");
            _epilogue.Validate(d, 2, EpilogueConstants, n, m, g.OutputPlane);
        }
        catch (OverflowException)
        {
            throw OutOfRange("conv: sizes overflow");
        }
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        long n = d.Constant(0);
        var g = ConvGeometry.Read(_window, d, 1);
        long pixels = g.OutputPlane;
        if (n == 0 || pixels == 0) return (0, 0, 0);
        int chunks = 1;
        long work = n * _groups * _filters * pixels * Depth;
        if (env.WorkerCount > 1 && work >= MinParallelWork)
        {
            // About four workgroups per worker, splitting each image's pixels (rows on the direct path) when images and groups are too few.
            long target = 4L * env.WorkerCount;
            long perImage = (target + n * _groups - 1) / (n * _groups);
            long limit = IsDirect(g) ? g.OutH : pixels / MinChunkPixels;
            chunks = (int)Math.Clamp(Math.Min(perImage, limit), 1, int.MaxValue);
        }
        return (chunks, _groups, (int)n);
    }

    /// <summary>Whether these sizes run on <see cref="DirectConv"/> rather than packed im2col panels.</summary>
    private bool IsDirect(in ConvGeometry g) => _direct && DirectConv.Fits(g, _channels);

    public override int ScratchBytes(in DispatchState d)
    {
        var g = ConvGeometry.Read(_window, d, 1);
        long floats = IsDirect(g) ? DirectConv.ScratchFloats(g, _channels)
            : _directPointwise && g.IsPointwise ? DirectConv.PointwiseScratchFloats(_channels)
            : GemmDriver.ScratchFloats(!_prepacked, true);
        return (int)(floats * sizeof(float));
    }

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        var g = ConvGeometry.Read(_window, d, 1);
        long pixels = g.OutputPlane;
        if (IsDirect(g))
        {
            RunDirect(d, wg, g);
            return;
        }
        long panels = PanelLayout.PanelCount(pixels, PanelLayout.Columns);
        long perChunk = (panels + d.WorkgroupCountX - 1) / d.WorkgroupCountX * PanelLayout.Columns;
        long p0 = wg.X * perChunk, p1 = Math.Min(pixels, p0 + perChunk);
        if (p0 >= p1) return;
        int group = wg.Y, image = wg.Z, depth = Depth;
        long c = (long)_channels * _groups, m = (long)_filters * _groups;
        float* x = (float*)d.Binding(0).Data + (image * c + group * _channels) * g.InputPlane;
        float* w = (float*)d.Binding(1).Data;
        float* y = (float*)d.Binding(OutputBinding).Data + (image * m + group * _filters) * pixels;
        var epilogue = new EpilogueTarget(_epilogue, d, 2, EpilogueConstants, image, group * _filters);
        float* scratch = (float*)wg.Scratch;
        int columns = (int)(p1 - p0);
        if (_prepacked)
        {
            float* packed = w + group * PackedGroupLength(_channels, _filters, _window.Taps);
            if (g.IsPointwise && _directPointwise)
            {
                DirectConv.RunPointwise(x, pixels, _channels, _filters, packed, y, p0, p1, epilogue, scratch);
                return;
            }
            var a = new PrepackedPanels(packed, depth, PanelLayout.Rows);
            if (g.IsPointwise) GemmDriver.Run(a, new StridedColumns(x, pixels, 1), 0, _filters, p0, columns, depth, y, pixels, epilogue, scratch);
            else GemmDriver.Run(a, new Im2ColPanels(x, g), 0, _filters, p0, columns, depth, y, pixels, epilogue, scratch);
        }
        else
        {
            var a = new StridedRows(w + (long)group * _filters * depth, depth, 1);
            if (g.IsPointwise) GemmDriver.Run(a, new StridedColumns(x, pixels, 1), 0, _filters, p0, columns, depth, y, pixels, epilogue, scratch);
            else GemmDriver.Run(a, new Im2ColPanels(x, g), 0, _filters, p0, columns, depth, y, pixels, epilogue, scratch);
        }
    }

    private void RunDirect(in DispatchState d, in WorkgroupState wg, in ConvGeometry g)
    {
        int perChunk = (g.OutH + d.WorkgroupCountX - 1) / d.WorkgroupCountX;
        int row0 = wg.X * perChunk, row1 = Math.Min(g.OutH, row0 + perChunk);
        if (row0 >= row1) return;
        int group = wg.Y, image = wg.Z;
        long c = (long)_channels * _groups, m = (long)_filters * _groups;
        float* x = (float*)d.Binding(0).Data + (image * c + group * _channels) * g.InputPlane;
        float* w = (float*)d.Binding(1).Data + group * PackedGroupLength(_channels, _filters, _window.Taps);
        float* y = (float*)d.Binding(OutputBinding).Data + (image * m + group * _filters) * g.OutputPlane;
        var epilogue = new EpilogueTarget(_epilogue, d, 2, EpilogueConstants, image, group * _filters);
        DirectConv.Run(x, g, _channels, _filters, w, y, row0, row1, epilogue, (float*)wg.Scratch);
    }
}
