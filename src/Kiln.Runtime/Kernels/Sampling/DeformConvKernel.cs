using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Sampling;

/// <summary>
/// The portable "deformconv" kernel: DeformConv with 1 to 3 spatial axes. Tap t of output position
/// o reads x at o·stride − pad_begin + t·dilation + offset (one offset vector per offset group, tap
/// and position) by multilinear interpolation, zero outside x, scaled by the mask when there is
/// one; each group's filters then weight its sampled columns, and the bias is added. Computed in
/// double, rounded once to the element type (as the reference evaluator does). Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 element dtype (float) · u8 spatial rank (1..3) · u8 has bias (0/1) · u8 has mask (0/1)
/// </code>
/// Bindings: x [N, C, in...], w [F, C/groups, kernel...], offset [N, offset_groups·taps·rank, out...],
/// bias [F] (if any), mask [N, offset_groups·taps, out...] (if any), y [N, F, out...]. Push
/// constants: N, C, F, groups, offset_groups, then per axis: input size, kernel size, output size,
/// stride, begin pad, dilation. One workgroup per batch item and group. Immutable after load; thread-safe.
/// </summary>
public sealed unsafe class DeformConvKernel : Kernel
{
    public const string KernelName = "deformconv";
    public const byte Version = 1;
    private const int Fields = 6;

    private readonly DType _dtype;
    private readonly int _rank;
    private readonly bool _hasBias, _hasMask;

    private DeformConvKernel(DType dtype, int rank, bool hasBias, bool hasMask) => (_dtype, _rank, _hasBias, _hasMask) = (dtype, rank, hasBias, hasMask);

    public static byte[] Encode(DType dtype, int rank, bool hasBias, bool hasMask) =>
        new DescriptorWriter().U8(Version).U8((byte)dtype).U8(rank).U8(hasBias ? 1 : 0).U8(hasMask ? 1 : 0).ToArray();

    public static int BindingCount(bool hasBias, bool hasMask) => 4 + (hasBias ? 1 : 0) + (hasMask ? 1 : 0);
    public static int ConstantCount(int rank) => 5 + Fields * rank;

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Float, "element");
        int rank = r.ReadRank(3);
        if (rank == 0) throw r.Invalid("at least one spatial axis is needed");
        bool hasBias = r.ReadFlag("has bias"), hasMask = r.ReadFlag("has mask");
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, BindingCount(hasBias, hasMask), constantCount, ConstantCount(rank));
        return new DeformConvKernel(dtype, rank, hasBias, hasMask);
    }

    public override string Name => KernelName;

    private int MaskBinding => _hasBias ? 4 : 3;
    private int OutputBinding => BindingCount(_hasBias, _hasMask) - 1;

    /// <summary>The sizes of a dispatch, copied from its push constants.</summary>
    private readonly struct Geometry
    {
        public readonly long Batch, Channels, Filters, Groups, OffsetGroups;
        private readonly long[] _axes;

        public Geometry(in DispatchState d, int rank)
        {
            (Batch, Channels, Filters, Groups, OffsetGroups) = (d.Constant(0), d.Constant(1), d.Constant(2), d.Constant(3), d.Constant(4));
            _axes = d.ConstantSpan.Slice(5, Fields * rank).ToArray();
        }

        public long Input(int a) => _axes[a * Fields];
        public long Kernel(int a) => _axes[a * Fields + 1];
        public long Output(int a) => _axes[a * Fields + 2];
        public long Stride(int a) => _axes[a * Fields + 3];
        public long Pad(int a) => _axes[a * Fields + 4];
        public long Dilation(int a) => _axes[a * Fields + 5];
    }

    private static long Product(int rank, Func<int, long> size)
    {
        long p = 1;
        for (int a = 0; a < rank; a++) p = DispatchChecks.Multiply(p, DispatchChecks.Size(size(a), KernelName, "a spatial size"), KernelName, "a spatial size");
        return p;
    }

    public override void Validate(in DispatchState d)
    {
        var g = new Geometry(d, _rank);
        foreach (long n in new[] { g.Batch, g.Channels, g.Filters }) DispatchChecks.Size(n, KernelName, "a size");
        if (g.Groups < 1 || g.OffsetGroups < 1 || g.Channels % g.Groups != 0 || g.Filters % g.Groups != 0 || g.Channels % g.OffsetGroups != 0)
            throw DispatchChecks.OutOfRange(KernelName, $"groups {g.Groups} and offset groups {g.OffsetGroups} must divide {g.Channels} channels ({g.Filters} filters)");
        for (int a = 0; a < _rank; a++)
        {
            if (g.Stride(a) < 1 || g.Dilation(a) < 1 || g.Stride(a) > DispatchChecks.MaxElements || g.Dilation(a) > DispatchChecks.MaxElements || Math.Abs(g.Pad(a)) > DispatchChecks.MaxElements)
                throw DispatchChecks.OutOfRange(KernelName, $"axis {a}: stride {g.Stride(a)}, dilation {g.Dilation(a)} or pad {g.Pad(a)} is out of range");
        }
        long inPlane = Product(_rank, g.Input), taps = Product(_rank, g.Kernel), positions = Product(_rank, g.Output);
        long columns = DispatchChecks.Product([g.Channels / g.Groups, taps, positions], KernelName, "columns");
        // Columns and an input plane are held in managed arrays of doubles.
        if (columns > int.MaxValue / 8 || inPlane > int.MaxValue / 8) throw DispatchChecks.OutOfRange(KernelName, "the sampled columns are too large");
        int size = _dtype.Size();
        DispatchChecks.Fits(d, 0, DispatchChecks.Product([g.Batch, g.Channels, inPlane], KernelName, "x"), size, KernelName, "x");
        DispatchChecks.Fits(d, 1, DispatchChecks.Product([g.Filters, g.Channels / g.Groups, taps], KernelName, "w"), size, KernelName, "w");
        DispatchChecks.Fits(d, 2, DispatchChecks.Product([g.Batch, g.OffsetGroups, taps, _rank, positions], KernelName, "offset"), size, KernelName, "offset");
        if (_hasBias) DispatchChecks.Fits(d, 3, g.Filters, size, KernelName, "bias");
        if (_hasMask) DispatchChecks.Fits(d, MaskBinding, DispatchChecks.Product([g.Batch, g.OffsetGroups, taps, positions], KernelName, "mask"), size, KernelName, "mask");
        DispatchChecks.Fits(d, OutputBinding, DispatchChecks.Product([g.Batch, g.Filters, positions], KernelName, "y"), size, KernelName, "y");
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        var g = new Geometry(d, _rank);
        return ((int)Math.Min(int.MaxValue, g.Batch * g.Groups), 1, 1);
    }

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        var g = new Geometry(d, _rank);
        long n = wg.X / g.Groups, group = wg.X % g.Groups;
        int k = _rank, size = _dtype.Size();
        int inPlane = (int)Product(k, g.Input), taps = (int)Product(k, g.Kernel), positions = (int)Product(k, g.Output);
        int cg = (int)(g.Channels / g.Groups), mg = (int)(g.Filters / g.Groups);
        long channelsPerOffsetGroup = g.Channels / g.OffsetGroups;
        Span<long> inputSize = stackalloc long[k], kernel = stackalloc long[k], output = stackalloc long[k];
        for (int a = 0; a < k; a++) (inputSize[a], kernel[a], output[a]) = (g.Input(a), g.Kernel(a), g.Output(a));
        Span<long> tap = stackalloc long[k], position = stackalloc long[k];
        Span<double> point = stackalloc double[k];
        byte* x = d.Binding(0).Data, offsets = d.Binding(2).Data;
        byte* mask = _hasMask ? d.Binding(MaskBinding).Data : null;

        // Columns [cg · taps, positions]: the deformed, masked samples this group's filters weight.
        var columns = new double[(long)cg * taps * positions];
        var plane = new double[inPlane];
        for (int cl = 0; cl < cg; cl++)
        {
            long c = group * cg + cl, og = c / channelsPerOffsetGroup;
            ElementRows.Load(_dtype, x + (n * g.Channels + c) * inPlane * size, inPlane, plane).CopyTo(plane);
            for (int t = 0; t < taps; t++)
            {
                Unflatten(t, kernel, tap);
                long offsetBase = ((n * g.OffsetGroups + og) * taps + t) * k * positions;
                for (int o = 0; o < positions; o++)
                {
                    Unflatten(o, output, position);
                    for (int a = 0; a < k; a++)
                        point[a] = position[a] * g.Stride(a) - g.Pad(a) + tap[a] * g.Dilation(a)
                            + ElementRows.LoadOne<double>(_dtype, offsets + (offsetBase + a * positions + o) * size);
                    double scale = mask is null ? 1 : ElementRows.LoadOne<double>(_dtype, mask + (((n * g.OffsetGroups + og) * taps + t) * positions + o) * size);
                    columns[((long)cl * taps + t) * positions + o] = scale * Sample(plane, inputSize, point);
                }
            }
        }

        int width = cg * taps;
        var filter = new double[width];
        var row = new double[positions];
        byte* w = d.Binding(1).Data, y = d.Binding(OutputBinding).Data;
        for (int fl = 0; fl < mg; fl++)
        {
            long f = group * mg + fl;
            ElementRows.Load(_dtype, w + f * width * size, width, filter).CopyTo(filter);
            double bias = _hasBias ? ElementRows.LoadOne<double>(_dtype, d.Binding(3).Data + f * size) : 0;
            for (int o = 0; o < positions; o++)
            {
                double sum = 0;
                for (int j = 0; j < width; j++) sum += filter[j] * columns[(long)j * positions + o];
                row[o] = sum + bias;
            }
            ElementRows.Store<double>(row, _dtype, y + (n * g.Filters + f) * positions * size);
        }
    }

    private static void Unflatten(long index, ReadOnlySpan<long> sizes, Span<long> coordinate)
    {
        for (int a = sizes.Length - 1; a >= 0; a--)
        {
            coordinate[a] = index % sizes[a];
            index /= sizes[a];
        }
    }

    /// <summary>Multilinear interpolation of a plane at a fractional point; corners outside read 0.</summary>
    private static double Sample(ReadOnlySpan<double> plane, ReadOnlySpan<long> size, ReadOnlySpan<double> point)
    {
        int k = size.Length;
        double value = 0;
        for (int corner = 0; corner < 1 << k; corner++)
        {
            double weight = 1;
            long offset = 0;
            for (int a = 0; a < k && weight != 0; a++)
            {
                double low = Math.Floor(point[a]);
                bool high = (corner >> a & 1) != 0;
                // Far outside points (or NaN offsets) read nothing: checked before converting to an index.
                if (!(low >= -1 && low < size[a])) { weight = 0; break; }
                long i = (long)low + (high ? 1 : 0);
                weight *= high ? point[a] - low : 1 - (point[a] - low);
                if (i < 0 || i >= size[a]) weight = 0;
                offset = offset * size[a] + i;
            }
            if (weight != 0) value += weight * plane[(int)offset];
        }
        return value;
    }
}
