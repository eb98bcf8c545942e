using System.Buffers.Binary;
using System.Numerics;
using System.Numerics.Tensors;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Kernels.Support;

namespace Kiln.Runtime.Kernels.Normalization;

/// <summary>
/// The portable "lrn" kernel: local response normalization across channels,
/// y = x / (bias + alpha/size · Σ x²)^beta with the sum over channels c − ⌊(size−1)/2⌋ … c + ⌈(size−1)/2⌉
/// clipped to the tensor. X is [N, C, inner]; a work item is one (n, c) plane, computed in chunks
/// with TensorPrimitives (the squares of the window's planes accumulate in scratch).
/// Descriptor (little-endian): <c>u8 version(1) · u8 dtype (float32 | float64) · i64 size · f64 alpha · f64 beta · f64 bias</c>.
/// Push constants: N, C, inner. Bindings: X, Y.
/// </summary>
public sealed unsafe class LrnKernel : Kernel
{
    public const string KernelName = "lrn";
    public const byte Version = 1;
    private const int Chunk = 1024;

    private readonly DType _dtype;
    private readonly long _size;
    private readonly double _alpha, _beta, _bias;

    private LrnKernel(DType dtype, long size, double alpha, double beta, double bias) =>
        (_dtype, _size, _alpha, _beta, _bias) = (dtype, size, alpha, beta, bias);

    public static byte[] Encode(DType dtype, long size, double alpha, double beta, double bias)
    {
        var bytes = new byte[34];
        bytes[0] = Version;
        bytes[1] = (byte)dtype;
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(2), size);
        BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(10), alpha);
        BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(18), beta);
        BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(26), bias);
        return bytes;
    }

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        byte dtype = r.U8();
        long size = r.I64();
        double alpha = BitConverter.Int64BitsToDouble(r.I64()), beta = BitConverter.Int64BitsToDouble(r.I64()), bias = BitConverter.Int64BitsToDouble(r.I64());
        r.ExpectEnd();
        if (dtype is not ((byte)DType.Float32 or (byte)DType.Float64)) throw r.Invalid($"dtype {dtype} is not float32 or float64");
        if (size is < 1 or > 1 << 20) throw r.Invalid($"size {size} is outside [1, 2^20]");
        if (bindingCount != 2 || constantCount != 3) throw r.Invalid($"needs 2 bindings and 3 constants, has {bindingCount} and {constantCount}");
        return new LrnKernel((DType)dtype, size, alpha, beta, bias);
    }

    public override string Name => KernelName;

    public override void Validate(in DispatchState d)
    {
        long total = KernelChecks.Size(KernelName, d.Constant(0), "N");
        total = KernelChecks.Multiply(KernelName, total, KernelChecks.Size(KernelName, d.Constant(1), "C"));
        total = KernelChecks.Multiply(KernelName, total, KernelChecks.Size(KernelName, d.Constant(2), "inner size"));
        KernelChecks.Holds(KernelName, d, 0, total, _dtype.Size(), "X");
        KernelChecks.Holds(KernelName, d, 1, total, _dtype.Size(), "Y");
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) =>
        (WorkSplit.Groups(d.Constant(0) * d.Constant(1), d.Constant(2) * (_size + 2), env), 1, 1);

    public override int ScratchBytes(in DispatchState d) => Chunk * _dtype.Size();

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        if (_dtype == DType.Float32) Run<float>(d, wg);
        else Run<double>(d, wg);
    }

    private void Run<T>(in DispatchState d, in WorkgroupState wg) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long channels = d.Constant(1), inner = d.Constant(2);
        long before = (_size - 1) / 2, after = _size - 1 - before;
        var (start, end) = WorkSplit.Range(wg.X, d.WorkgroupCountX, d.Constant(0) * channels);
        T* x = (T*)d.Binding(0).Data, y = (T*)d.Binding(1).Data;
        var sums = new Span<T>(wg.Scratch, Chunk);
        T coefficient = T.CreateChecked(_alpha / _size), bias = T.CreateChecked(_bias), beta = T.CreateChecked(_beta);
        for (long plane = start; plane < end; plane++)
        {
            long c = plane % channels, image = plane - c;
            long first = Math.Max(0, c - before), last = Math.Min(channels - 1, c + after);
            for (long i = 0; i < inner; i += Chunk)
            {
                int n = (int)Math.Min(Chunk, inner - i);
                var sum = sums[..n];
                sum.Clear();
                for (long k = first; k <= last; k++)
                {
                    var neighbour = new ReadOnlySpan<T>(x + (image + k) * inner + i, n);
                    TensorPrimitives.MultiplyAdd(neighbour, neighbour, sum, sum);
                }
                TensorPrimitives.Multiply(sum, coefficient, sum);
                TensorPrimitives.Add(sum, bias, sum);
                // base^beta as exp(beta·log(base)): vector loops (Pow has none), well within the suite's tolerance.
                TensorPrimitives.Log(sum, sum);
                TensorPrimitives.Multiply(sum, beta, sum);
                TensorPrimitives.Exp(sum, sum);
                TensorPrimitives.Divide(new ReadOnlySpan<T>(x + plane * inner + i, n), sum, new Span<T>(y + plane * inner + i, n));
            }
        }
    }
}
