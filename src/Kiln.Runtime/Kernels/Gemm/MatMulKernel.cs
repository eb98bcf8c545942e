using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Gemm;

/// <summary>
/// The "matmul" kernel family: batched C = A·B (then an epilogue) for MatMul and Gemm.
/// <para>Descriptor (little-endian):</para>
/// <code>
/// u8 version (1) · u8 dtype · u8 flags (1: A prepacked, 2: B prepacked) · u8 batch rank R (0..4) · epilogue
/// </code>
/// float32 runs the packed GEMM (<see cref="GemmDriver"/>); a prepacked operand is a constant in
/// <see cref="PanelLayout"/>'s layout (A in row panels, B in column panels) packed by the compiler.
/// float64 and the integer types run a plain loop in double or 64-bit integers (wrapping to the
/// type on store) and take no prepacking and no epilogue.
/// <para>Push constants:</para>
/// <code>
/// [0] M · [1] N · [2] K
/// [3] A row stride · [4] A depth stride · [5] B depth stride · [6] B column stride   (elements; unused when prepacked)
/// per batch axis d &lt; R: size · A batch stride · B batch stride   (elements; a prepacked operand's are in floats of packed data)
/// per epilogue operand: batch, row, column strides (<see cref="Epilogue"/>)
/// </code>
/// Bindings: A, B, the epilogue operands, C (dense [batch..., M, N]); the result's batch index is
/// the row-major index over the batch axes. Strides are non-negative (0 broadcasts).
/// </summary>
public sealed unsafe class MatMulKernel : Kernel
{
    public const string KernelName = "matmul";
    public const byte Version = 1;
    public const int MaxBatchRank = 4;
    public const byte PrepackedA = 1, PrepackedB = 2;
    private const int FixedConstants = 7;
    /// <summary>Products with fewer multiply-adds than this are not split across workers.</summary>
    private const long MinParallelWork = 1 << 21;

    private readonly DType _dtype;
    private readonly bool _packedA, _packedB;
    private readonly int _batchRank;
    private readonly Epilogue _epilogue;

    private MatMulKernel(DType dtype, byte flags, int batchRank, Epilogue epilogue)
    {
        _dtype = dtype;
        _packedA = (flags & PrepackedA) != 0;
        _packedB = (flags & PrepackedB) != 0;
        _batchRank = batchRank;
        _epilogue = epilogue;
    }

    public override string Name => KernelName;
    public Epilogue Epilogue => _epilogue;

    public static byte[] Encode(DType dtype, byte flags, int batchRank, Epilogue epilogue)
    {
        var bytes = new List<byte> { Version, (byte)dtype, flags, (byte)batchRank };
        epilogue.Encode(bytes);
        return bytes.ToArray();
    }

    public static int ConstantCount(int batchRank, Epilogue epilogue) => FixedConstants + 3 * batchRank + Epilogue.ConstantsPerOperand * epilogue.OperandCount;

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = (DType)r.U8();
        byte flags = r.U8();
        int batchRank = r.U8();
        var epilogue = Epilogue.Decode(ref r);
        r.ExpectEnd();
        if (!IsSupported(dtype)) throw r.Invalid($"unsupported element type {dtype.Name()}");
        if ((flags & ~(PrepackedA | PrepackedB)) != 0) throw r.Invalid($"unknown flags {flags}");
        if (batchRank > MaxBatchRank) throw r.Invalid($"batch rank {batchRank} exceeds {MaxBatchRank}");
        if (dtype != DType.Float32 && (flags != 0 || !epilogue.IsEmpty)) throw r.Invalid($"{dtype.Name()} products take no prepacked operands and no epilogue");
        if (bindingCount != 3 + epilogue.OperandCount) throw r.Invalid($"has {bindingCount} bindings, expected {3 + epilogue.OperandCount}");
        if (constantCount != ConstantCount(batchRank, epilogue)) throw r.Invalid($"has {constantCount} constants, expected {ConstantCount(batchRank, epilogue)}");
        return new MatMulKernel(dtype, flags, batchRank, epilogue);
    }

    public static bool IsSupported(DType t) => t is DType.Float32 or DType.Float64 or DType.Int8 or DType.UInt8 or DType.Int16 or DType.UInt16
        or DType.Int32 or DType.UInt32 or DType.Int64 or DType.UInt64;

    private int OutputBinding => 2 + _epilogue.OperandCount;
    private int EpilogueConstants => FixedConstants + 3 * _batchRank;

    private long Batches(in DispatchState d)
    {
        long n = 1;
        for (int i = 0; i < _batchRank; i++) n *= d.Constant(FixedConstants + 3 * i);
        return n;
    }

    public override void Validate(in DispatchState d)
    {
        long m = d.Constant(0), n = d.Constant(1), k = d.Constant(2);
        if (m < 0 || n < 0 || k < 0 || m > int.MaxValue || n > int.MaxValue || k > int.MaxValue) throw OutOfRange($"matmul: invalid sizes M={m} N={n} K={k}");
        for (int i = 3; i < FixedConstants; i++)
            if (d.Constant(i) < 0) throw OutOfRange("matmul: negative stride");
        try
        {
            long batches = 1, aLast = 0, bLast = 0;
            for (int i = 0; i < _batchRank; i++)
            {
                long size = d.Constant(FixedConstants + 3 * i), sa = d.Constant(FixedConstants + 3 * i + 1), sb = d.Constant(FixedConstants + 3 * i + 2);
                if (size < 0 || sa < 0 || sb < 0) throw OutOfRange("matmul: negative batch size or stride");
                batches = checked(batches * size);
                if (size > 0)
                {
                    aLast = checked(aLast + (size - 1) * sa);
                    bLast = checked(bLast + (size - 1) * sb);
                }
            }
            long outputElements = checked(batches * m * n);
            int elementSize = _dtype.Size();
            if (checked(outputElements * elementSize) > d.Binding(OutputBinding).Length) throw OutOfRange("matmul: the result binding is too small");
            if (outputElements == 0) return;
            if (k > 0)
            {
                long aReach = _packedA ? PanelLayout.PackedLength(m, k, PanelLayout.Rows) - 1 : (m - 1) * d.Constant(3) + (k - 1) * d.Constant(4);
                long bReach = _packedB ? PanelLayout.PackedLength(n, k, PanelLayout.Columns) - 1 : (k - 1) * d.Constant(5) + (n - 1) * d.Constant(6);
                if (checked((aLast + aReach + 1) * elementSize) > d.Binding(0).Length) throw OutOfRange("matmul: A is smaller than its sizes and strides need");
                if (checked((bLast + bReach + 1) * elementSize) > d.Binding(1).Length) throw OutOfRange("matmul: B is smaller than its sizes and strides need");
            }
            _epilogue.Validate(d, 2, EpilogueConstants, batches, m, n);
        }
        catch (OverflowException)
        {
            throw OutOfRange("matmul: sizes overflow");
        }
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        long m = d.Constant(0), n = d.Constant(1), k = d.Constant(2), batches = Batches(d);
        if (m == 0 || n == 0 || batches == 0) return (0, 0, 0);
        long work = batches * m * n * Math.Max(k, 1);
        if (env.WorkerCount <= 1 || work < MinParallelWork) return (1, 1, 1);
        // About four workgroups per worker: batches first, then column chunks, then row chunks.
        long target = 4L * env.WorkerCount;
        int z = (int)Math.Min(batches, target);
        long left = (target + z - 1) / z;
        int x = (int)Math.Min(left, PanelLayout.PanelCount(n, PanelLayout.Columns));
        left = (left + x - 1) / x;
        int y = (int)Math.Min(left, PanelLayout.PanelCount(m, PanelLayout.Rows));
        return (x, y, z);
    }

    public override int ScratchBytes(in DispatchState d) =>
        _dtype == DType.Float32 ? (int)GemmDriver.ScratchFloats(!_packedA, !_packedB) * sizeof(float) : 0;

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        long m = d.Constant(0), n = d.Constant(1), batches = Batches(d);
        var (b0, b1) = Chunk(batches, 1, wg.Z, d.WorkgroupCountZ);
        var (i0, i1) = Chunk(m, PanelLayout.Rows, wg.Y, d.WorkgroupCountY);
        var (j0, j1) = Chunk(n, PanelLayout.Columns, wg.X, d.WorkgroupCountX);
        for (long batch = b0; batch < b1; batch++)
        {
            if (_dtype == DType.Float32) RunFloat32(d, batch, i0, i1, j0, j1, (float*)wg.Scratch);
            else PlainProduct.Run(_dtype, d, BatchOffsets(d, batch), batch, i0, i1, j0, j1);
        }
    }

    /// <summary>The part [start, end) of [0, total) that chunk <paramref name="index"/> of <paramref name="count"/> covers, in whole multiples of <paramref name="unit"/>.</summary>
    private static (long Start, long End) Chunk(long total, int unit, int index, int count)
    {
        long units = (total + unit - 1) / unit;
        long per = (units + count - 1) / count;
        return (Math.Min(total, index * per * unit), Math.Min(total, (index + 1) * per * unit));
    }

    /// <summary>The element offsets of a batch's A and B (row-major batch index over the batch axes).</summary>
    private (long A, long B) BatchOffsets(in DispatchState d, long batch)
    {
        long a = 0, b = 0;
        for (int i = _batchRank - 1; i >= 0; i--)
        {
            long size = d.Constant(FixedConstants + 3 * i);
            long index = batch % size;
            batch /= size;
            a += index * d.Constant(FixedConstants + 3 * i + 1);
            b += index * d.Constant(FixedConstants + 3 * i + 2);
        }
        return (a, b);
    }

    private void RunFloat32(in DispatchState d, long batch, long i0, long i1, long j0, long j1, float* scratch)
    {
        int m = (int)d.Constant(0), n = (int)d.Constant(1), k = (int)d.Constant(2);
        var (aOffset, bOffset) = BatchOffsets(d, batch);
        float* a = (float*)d.Binding(0).Data + aOffset;
        float* b = (float*)d.Binding(1).Data + bOffset;
        float* c = (float*)d.Binding(OutputBinding).Data + batch * m * (long)n;
        var epilogue = new EpilogueTarget(_epilogue, d, 2, EpilogueConstants, batch, 0);
        int rows = (int)(i1 - i0), columns = (int)(j1 - j0);
        // One specialization per pairing of operand sources.
        if (_packedA)
        {
            var sa = new PrepackedPanels(a, k, PanelLayout.Rows);
            if (_packedB) GemmDriver.Run(sa, new PrepackedPanels(b, k, PanelLayout.Columns), i0, rows, j0, columns, k, c, n, epilogue, scratch);
            else GemmDriver.Run(sa, new StridedColumns(b, d.Constant(5), d.Constant(6)), i0, rows, j0, columns, k, c, n, epilogue, scratch);
        }
        else
        {
            var sa = new StridedRows(a, d.Constant(3), d.Constant(4));
            if (_packedB) GemmDriver.Run(sa, new PrepackedPanels(b, k, PanelLayout.Columns), i0, rows, j0, columns, k, c, n, epilogue, scratch);
            else GemmDriver.Run(sa, new StridedColumns(b, d.Constant(5), d.Constant(6)), i0, rows, j0, columns, k, c, n, epilogue, scratch);
        }
    }
}
