using System.Numerics;
using System.Numerics.Tensors;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Kernels.Support;

namespace Kiln.Runtime.Kernels.Pooling;

/// <summary>
/// The portable "global-pool" kernel: each contiguous plane of X reduced to one value —
/// GlobalAveragePool (TensorPrimitives.Sum / count), GlobalMaxPool (TensorPrimitives.Max: NaN
/// wins) or GlobalLpPool ((Σ|x|^p)^(1/p), accumulated in double). Workgroups take runs of planes.
/// Descriptor (little-endian): <c>u8 version(1) · u8 op (PoolOp) · u8 dtype (float32 | float64) · i64 p</c>.
/// Push constants: planes, plane size. Bindings: X [planes·size], Y [planes].
/// </summary>
public sealed unsafe class GlobalPoolKernel : Kernel
{
    public const string KernelName = "global-pool";
    public const byte Version = 1;

    private readonly PoolOp _op;
    private readonly DType _dtype;
    private readonly long _p;

    private GlobalPoolKernel(PoolOp op, DType dtype, long p) => (_op, _dtype, _p) = (op, dtype, p);

    public static byte[] Encode(PoolOp op, DType dtype, long p)
    {
        var bytes = new byte[11];
        bytes[0] = Version;
        bytes[1] = (byte)op;
        bytes[2] = (byte)dtype;
        BitConverter.TryWriteBytes(bytes.AsSpan(3), p);
        return bytes;
    }

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        byte op = r.U8(), dtype = r.U8();
        long p = r.I64();
        r.ExpectEnd();
        if (op > (byte)PoolOp.Lp) throw r.Invalid($"unknown pooling op {op}");
        if (dtype is not ((byte)DType.Float32 or (byte)DType.Float64)) throw r.Invalid($"dtype {dtype} is not float32 or float64");
        if (op == (byte)PoolOp.Lp && p is < 1 or > 64) throw r.Invalid($"p = {p} is outside [1, 64]");
        if (bindingCount != 2 || constantCount != 2) throw r.Invalid($"needs 2 bindings and 2 constants, has {bindingCount} and {constantCount}");
        return new GlobalPoolKernel((PoolOp)op, (DType)dtype, p);
    }

    public override string Name => KernelName;

    public override void Validate(in DispatchState d)
    {
        long planes = KernelChecks.Size(KernelName, d.Constant(0), "planes"), size = KernelChecks.Size(KernelName, d.Constant(1), "plane size");
        if (planes > 0 && size == 0) throw KernelChecks.Error(KernelName, "cannot pool over empty spatial axes");
        if (size > int.MaxValue) throw KernelChecks.Error(KernelName, $"planes of {size} elements");
        KernelChecks.Holds(KernelName, d, 0, KernelChecks.Multiply(KernelName, planes, size), _dtype.Size(), "X");
        KernelChecks.Holds(KernelName, d, 1, planes, _dtype.Size(), "Y");
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) =>
        (WorkSplit.Groups(d.Constant(0), d.Constant(1), env), 1, 1);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        if (_dtype == DType.Float32) Run<float>(d, wg);
        else Run<double>(d, wg);
    }

    private void Run<T>(in DispatchState d, in WorkgroupState wg) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int size = (int)d.Constant(1);
        var (start, end) = WorkSplit.Range(wg.X, d.WorkgroupCountX, d.Constant(0));
        T* x = (T*)d.Binding(0).Data, y = (T*)d.Binding(1).Data;
        for (long p = start; p < end; p++)
        {
            var plane = new ReadOnlySpan<T>(x + p * size, size);
            y[p] = _op switch
            {
                PoolOp.Average => TensorPrimitives.Sum(plane) / T.CreateChecked(size),
                PoolOp.Max => TensorPrimitives.Max(plane),
                _ => LpNorm(plane),
            };
        }
    }

    private T LpNorm<T>(ReadOnlySpan<T> plane) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double sum = 0;
        foreach (var v in plane) sum += Math.Pow(Math.Abs(double.CreateTruncating(v)), _p);
        return T.CreateTruncating(Math.Pow(sum, 1.0 / _p));
    }
}
