using System.Numerics;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Kernels.Support;

namespace Kiln.Runtime.Kernels.Sampling;

/// <summary>
/// The portable "affine-grid" kernel: AffineGrid(theta [N, k, k+1], size) → grid [N, D1..Dk, k],
/// grid[n, p] = theta[n] · (x, y, [z], 1) with the normalized positions of point p (the last axis
/// is x). Computed in double as the reference does. The size tensor is bound so the kernel can
/// check it names the shape the program was compiled for.
/// Descriptor: <c>u8 version(1) · u8 dtype (float32 | float64) · u8 k (2 | 3) · u8 align_corners</c>.
/// Push constants: N, the k spatial sizes. Bindings: theta, size (int64 [k + 2]), grid.
/// </summary>
public sealed unsafe class AffineGridKernel : Kernel
{
    public const string KernelName = "affine-grid";
    public const byte Version = 1;

    private readonly DType _dtype;
    private readonly int _k;
    private readonly bool _alignCorners;

    private AffineGridKernel(DType dtype, int k, bool alignCorners) => (_dtype, _k, _alignCorners) = (dtype, k, alignCorners);

    public static byte[] Encode(DType dtype, int k, bool alignCorners) => [Version, (byte)dtype, (byte)k, (byte)(alignCorners ? 1 : 0)];

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        byte dtype = r.U8(), k = r.U8(), align = r.U8();
        r.ExpectEnd();
        if (dtype is not ((byte)DType.Float32 or (byte)DType.Float64)) throw r.Invalid($"dtype {dtype} is not float32 or float64");
        if (k is not (2 or 3) || align > 1) throw r.Invalid($"spatial rank {k} is not 2 or 3, or align_corners is unknown");
        if (bindingCount != 3 || constantCount != 1 + k) throw r.Invalid($"needs 3 bindings and {1 + k} constants, has {bindingCount} and {constantCount}");
        return new AffineGridKernel((DType)dtype, k, align == 1);
    }

    public override string Name => KernelName;

    public override void Validate(in DispatchState d)
    {
        foreach (long v in d.ConstantSpan) KernelChecks.Size(KernelName, v, "a dimension");
        long n = d.Constant(0), points = KernelChecks.Product(KernelName, d.ConstantSpan[1..]);
        KernelChecks.Holds(KernelName, d, 0, KernelChecks.Multiply(KernelName, n, _k * (_k + 1)), _dtype.Size(), "theta");
        KernelChecks.Holds(KernelName, d, 1, _k + 2, sizeof(long), "size");
        KernelChecks.Holds(KernelName, d, 2, KernelChecks.Multiply(KernelName, KernelChecks.Multiply(KernelName, n, points), _k), _dtype.Size(), "grid");
        var size = (long*)d.Binding(1).Data;
        bool matches = size[0] == n;
        for (int a = 0; a < _k; a++) matches &= size[2 + a] == d.Constant(1 + a);
        if (!matches) throw KernelChecks.Error(KernelName, $"the size input [{string.Join(",", new ReadOnlySpan<long>(size, _k + 2).ToArray())}] is not the shape the program was compiled for");
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        long points = 1;
        for (int a = 0; a < _k; a++) points *= d.Constant(1 + a);
        return (WorkSplit.Groups(d.Constant(0) * points, _k * (_k + 1), env), 1, 1);
    }

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        if (_dtype == DType.Float32) Run<float>(d, wg);
        else Run<double>(d, wg);
    }

    private void Run<T>(in DispatchState d, in WorkgroupState wg) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var spatial = d.ConstantSpan[1..];
        long points = 1;
        foreach (long s in spatial) points *= s;
        T* theta = (T*)d.Binding(0).Data, grid = (T*)d.Binding(2).Data;
        Span<double> point = stackalloc double[_k + 1];
        point[_k] = 1;
        var (start, end) = WorkSplit.Range(wg.X, d.WorkgroupCountX, d.Constant(0) * points);
        for (long item = start; item < end; item++)
        {
            long n = item / points, rest = item % points;
            // Homogeneous base coordinates: the last spatial axis is x, so the vector lists the axes in reverse.
            for (int a = _k - 1; a >= 0; a--)
            {
                point[_k - 1 - a] = Normalized(rest % spatial[a], spatial[a]);
                rest /= spatial[a];
            }
            for (int row = 0; row < _k; row++)
            {
                double sum = 0;
                for (int col = 0; col <= _k; col++) sum += double.CreateTruncating(theta[(n * _k + row) * (_k + 1) + col]) * point[col];
                grid[item * _k + row] = T.CreateTruncating(sum);
            }
        }
    }

    private double Normalized(long i, long size) =>
        _alignCorners ? (size == 1 ? -1 : -1 + 2.0 * i / (size - 1)) : -1 + (2.0 * i + 1) / size;
}
