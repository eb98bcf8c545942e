using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Indexing;

public enum PadMode : byte { Constant = 0, Reflect = 1, Edge = 2, Wrap = 3 }

/// <summary>
/// The portable "pad" kernel: Pad with pads (and optionally the constant value and the axes) read
/// at run time, in every mode: output index k along an axis reads source index k − begin, mapped
/// back into range by the mode (constant: the value; edge: clamped; wrap: modulo; reflect:
/// mirrored without repeating the edge). Negative pads crop. The pads must produce the result
/// shape the module was compiled for. Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 element dtype · u8 rank (1..8) · u8 mode · u8 has value · u8 axes dtype (0: no axes, else int32/int64)
/// </code>
/// Bindings: x, pads (int64, begins then ends), value (one element, if present), axes (if
/// present), y. Push constants: x dims, then y dims. Workgroups take ranges of output rows; a
/// row is its interior copied as one run and its padded ends element by element.
/// </summary>
public sealed unsafe class PadKernel : Kernel
{
    public const string KernelName = "pad";
    public const byte Version = 1;
    private const long ChunkWork = 32 * 1024;

    private readonly DType _dtype, _axesType;
    private readonly int _rank;
    private readonly PadMode _mode;
    private readonly bool _hasValue;

    private PadKernel(DType dtype, int rank, PadMode mode, bool hasValue, DType axesType) =>
        (_dtype, _rank, _mode, _hasValue, _axesType) = (dtype, rank, mode, hasValue, axesType);

    private bool HasAxes => _axesType != 0;
    private int OutputBinding => 2 + (_hasValue ? 1 : 0) + (HasAxes ? 1 : 0);

    /// <summary>Encodes a descriptor; <paramref name="axesType"/> is null without an axes operand.</summary>
    public static byte[] Encode(DType dtype, int rank, PadMode mode, bool hasValue, DType? axesType) =>
        new DescriptorWriter().U8(Version).U8((byte)dtype).U8(rank).U8((byte)mode).U8(hasValue ? 1 : 0).U8(axesType is { } t ? (byte)t : 0).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Movable, "element");
        int rank = r.ReadRank();
        if (rank == 0) throw r.Invalid("rank must be at least 1");
        var mode = (PadMode)r.U8();
        if (mode > PadMode.Wrap) throw r.Invalid($"unknown mode {(byte)mode}");
        bool hasValue = r.ReadFlag("has value");
        byte axes = r.U8();
        if (axes != 0 && !DescriptorFields.Is((DType)axes, DTypeKind.Index)) throw r.Invalid($"axes dtype {axes} is not int32 or int64");
        r.ExpectEnd();
        var kernel = new PadKernel(dtype, rank, mode, hasValue, (DType)axes);
        DescriptorFields.CheckCounts(KernelName, bindingCount, kernel.OutputBinding + 1, constantCount, 2 * rank);
        return kernel;
    }

    public override string Name => KernelName;

    /// <summary>The begin pad of every axis (from the pads and axes operands), checked against the compiled shapes.</summary>
    private void Begins(in DispatchState d, Span<long> begin)
    {
        var xDims = d.ConstantSpan[.._rank];
        var yDims = d.ConstantSpan[_rank..];
        ref readonly var pads = ref d.Binding(1);
        long padCount = pads.Length / sizeof(long);
        Span<long> end = stackalloc long[_rank];
        begin.Clear();
        long axisCount = _rank;
        if (HasAxes)
        {
            ref readonly var axes = ref d.Binding(_hasValue ? 3 : 2);
            axisCount = axes.Length / _axesType.Size();
            if (axisCount > _rank) throw DispatchChecks.OutOfRange(KernelName, $"{axisCount} axes for rank {_rank}");
        }
        if (padCount != 2 * axisCount || pads.Length != padCount * sizeof(long))
            throw DispatchChecks.OutOfRange(KernelName, $"{pads.Length / sizeof(long)} pads for {axisCount} axes (needs two int64 per axis)");
        uint seen = 0;
        for (int i = 0; i < axisCount; i++)
        {
            long a = i;
            if (HasAxes)
            {
                a = IndexValues.Read(_axesType, d.Binding(_hasValue ? 3 : 2).Data, i);
                if (a < -_rank || a >= _rank) throw DispatchChecks.OutOfRange(KernelName, $"axis {a} is out of range for rank {_rank}");
                if (a < 0) a += _rank;
                if ((seen & 1u << (int)a) != 0) throw DispatchChecks.OutOfRange(KernelName, $"axis {a} is listed twice");
                seen |= 1u << (int)a;
            }
            begin[(int)a] = ((long*)pads.Data)[i];
            end[(int)a] = ((long*)pads.Data)[i + axisCount];
        }
        for (int a = 0; a < _rank; a++)
        {
            long x = DispatchChecks.Size(xDims[a], KernelName, "dimension"), y = DispatchChecks.Size(yDims[a], KernelName, "dimension");
            if (Math.Abs(begin[a]) > DispatchChecks.MaxElements || Math.Abs(end[a]) > DispatchChecks.MaxElements || x + begin[a] + end[a] != y)
                throw DispatchChecks.OutOfRange(KernelName, $"pads {begin[a]}, {end[a]} make axis {a} of size {x} into {x + begin[a] + end[a]}, but the result was compiled with {y}");
            if (x == 0 && y > 0 && _mode != PadMode.Constant)
                throw DispatchChecks.OutOfRange(KernelName, $"cannot pad empty axis {a} in {_mode.ToString().ToLowerInvariant()} mode");
        }
    }

    public override void Validate(in DispatchState d)
    {
        Span<long> begin = stackalloc long[_rank];
        Begins(d, begin);
        if (_hasValue && d.Binding(2).Length != _dtype.Size()) throw DispatchChecks.OutOfRange(KernelName, $"the constant value must be one element, its binding has {d.Binding(2).Length} bytes");
        DispatchChecks.Fits(d, 0, DispatchChecks.Product(d.ConstantSpan[.._rank], KernelName, "input size"), _dtype.Size(), KernelName, "the input");
        DispatchChecks.Fits(d, OutputBinding, DispatchChecks.Product(d.ConstantSpan[_rank..], KernelName, "output size"), _dtype.Size(), KernelName, "the output");
    }

    private static long RowsPerWorkgroup(long rowLength) => Math.Max(1, ChunkWork / Math.Max(1, rowLength));

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        var yDims = d.ConstantSpan[_rank..];
        long rows = 1;
        foreach (long n in yDims[..^1]) rows *= n;
        long per = RowsPerWorkgroup(yDims[^1]);
        return (yDims[^1] == 0 ? 0 : (int)Math.Min(int.MaxValue, (rows + per - 1) / per), 1, 1);
    }

    /// <summary>The source index output index k reads along an axis of <paramref name="size"/> (−1: the constant).</summary>
    private long Source(long k, long begin, long size)
    {
        long j = k - begin;
        if (j >= 0 && j < size) return j;
        switch (_mode)
        {
            case PadMode.Constant: return -1;
            case PadMode.Edge: return Math.Clamp(j, 0, size - 1);
            case PadMode.Wrap: return (j % size + size) % size;
            default:
                long period = 2 * (size - 1);
                if (period == 0) return 0;
                long m = (j % period + period) % period;
                return m < size ? m : period - m;
        }
    }

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        Span<long> begin = stackalloc long[_rank];
        Begins(d, begin);
        var xDims = d.ConstantSpan[.._rank];
        var yDims = d.ConstantSpan[_rank..];
        Span<long> xStrides = stackalloc long[_rank];
        long stride = 1;
        for (int a = _rank - 1; a >= 0; a--) { xStrides[a] = stride; stride *= xDims[a]; }
        int size = _dtype.Size();
        long width = yDims[^1], inWidth = xDims[^1], lastBegin = begin[^1];
        long rows = 1;
        foreach (long n in yDims[..^1]) rows *= n;
        long per = RowsPerWorkgroup(width), first = wg.X * per, last = Math.Min(rows, first + per);
        byte* x = d.Binding(0).Data, y = d.Binding(OutputBinding).Data;
        long zero = 0;
        byte* value = _hasValue ? d.Binding(2).Data : (byte*)&zero;
        // The interior of a row: output columns [from, to) read source columns from − lastBegin on.
        long from = Math.Clamp(lastBegin, 0, width), to = Math.Clamp(lastBegin + inWidth, from, width);
        for (long row = first; row < last; row++)
        {
            long rem = row, sourceRow = 0;
            bool outside = false;
            for (int a = _rank - 2; a >= 0; a--)
            {
                long s = Source(rem % yDims[a], begin[a], xDims[a]);
                rem /= yDims[a];
                if (s < 0) outside = true;
                else sourceRow += s * xStrides[a];
            }
            byte* dst = y + row * width * size;
            if (outside)
            {
                for (long k = 0; k < width; k++) IndexValues.CopyElement(value, dst + k * size, size);
                continue;
            }
            byte* src = x + sourceRow * size;
            for (long k = 0; k < width; k++)
            {
                if (k == from && to > from) { Buffer.MemoryCopy(src + (from - lastBegin) * size, dst + from * size, (to - from) * size, (to - from) * size); k = to - 1; continue; }
                long s = Source(k, lastBegin, inWidth);
                IndexValues.CopyElement(s < 0 ? value : src + s * size, dst + k * size, size);
            }
        }
    }
}
