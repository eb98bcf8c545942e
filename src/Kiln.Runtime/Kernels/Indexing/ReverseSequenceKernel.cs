using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Indexing;

/// <summary>
/// The portable "reversesequence" kernel: ReverseSequence over x whose two leading axes are time
/// and batch (in either order). For batch entry b the first lengths[b] steps are reversed and the
/// rest copied; each (time, batch) position moves a run of the trailing elements. Descriptor
/// (little-endian):
/// <code>
/// u8 version(1) · u8 element dtype · u8 lengths dtype (int32/int64) · u8 time axis (0 or 1)
/// </code>
/// Bindings: x, lengths (one per batch entry), y. Push constants: the two leading dims, the run
/// (product of the others). Every length must lie in [0, steps].
/// </summary>
public sealed unsafe class ReverseSequenceKernel : Kernel
{
    public const string KernelName = "reversesequence";
    public const byte Version = 1;
    private const long ChunkWork = 64 * 1024;

    private readonly DType _dtype, _lengthType;
    private readonly int _timeAxis;

    private ReverseSequenceKernel(DType dtype, DType lengthType, int timeAxis) => (_dtype, _lengthType, _timeAxis) = (dtype, lengthType, timeAxis);

    public static byte[] Encode(DType dtype, DType lengthType, int timeAxis) =>
        new DescriptorWriter().U8(Version).U8((byte)dtype).U8((byte)lengthType).U8(timeAxis).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Movable, "element");
        var lengthType = r.ReadDType(DTypeKind.Index, "lengths");
        int timeAxis = r.ReadAxis(2);
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 3, constantCount, 3);
        return new ReverseSequenceKernel(dtype, lengthType, timeAxis);
    }

    public override string Name => KernelName;

    private (long Steps, long Batches) Axes(in DispatchState d) =>
        _timeAxis == 0 ? (d.Constant(0), d.Constant(1)) : (d.Constant(1), d.Constant(0));

    private long Length(byte* lengths, long b) => _lengthType == DType.Int32 ? ((int*)lengths)[b] : ((long*)lengths)[b];

    public override void Validate(in DispatchState d)
    {
        long count = DispatchChecks.Product(d.ConstantSpan, KernelName, "tensor size");
        var (steps, batches) = Axes(d);
        DispatchChecks.Fits(d, 1, batches, _lengthType.Size(), KernelName, "sequence_lens");
        byte* lengths = d.Binding(1).Data;
        for (long b = 0; b < batches; b++)
        {
            long n = Length(lengths, b);
            if (n < 0 || n > steps) throw DispatchChecks.OutOfRange(KernelName, $"sequence_lens[{b}] = {n} must lie in [0, {steps}]");
        }
        DispatchChecks.Fits(d, 0, count, _dtype.Size(), KernelName, "the input");
        DispatchChecks.Fits(d, 2, count, _dtype.Size(), KernelName, "the output");
    }

    private static long PositionsPerWorkgroup(long run) => Math.Max(1, ChunkWork / Math.Max(1, run));

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        long positions = d.Constant(0) * d.Constant(1), per = PositionsPerWorkgroup(d.Constant(2));
        return (positions == 0 || d.Constant(2) == 0 ? 0 : (int)Math.Min(int.MaxValue, (positions + per - 1) / per), 1, 1);
    }

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        long second = d.Constant(1), run = d.Constant(2), bytes = run * _dtype.Size();
        long per = PositionsPerWorkgroup(run), first = wg.X * per, last = Math.Min(d.Constant(0) * second, first + per);
        byte* x = d.Binding(0).Data, lengths = d.Binding(1).Data, y = d.Binding(2).Data;
        for (long position = first; position < last; position++)
        {
            long i0 = position / second, i1 = position % second;
            var (t, b) = _timeAxis == 0 ? (i0, i1) : (i1, i0);
            long n = Length(lengths, b), source = t < n ? n - 1 - t : t;
            long from = _timeAxis == 0 ? source * second + b : b * second + source;
            Buffer.MemoryCopy(x + from * bytes, y + position * bytes, bytes, bytes);
        }
    }
}
