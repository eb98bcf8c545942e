using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.LinearAlgebra;

/// <summary>
/// The portable "det" kernel: the determinant of each square matrix [*, M, M], by LU
/// decomposition with partial pivoting in double (a zero pivot column gives 0). Descriptor
/// (little-endian):
/// <code>
/// u8 version(1) · u8 dtype (float)
/// </code>
/// Bindings: x, y. Push constants: matrices, M.
/// </summary>
public sealed unsafe class DetKernel : Kernel
{
    public const string KernelName = "det";
    public const byte Version = 1;
    private const long ChunkWork = 64 * 1024;
    // Each workgroup keeps an M×M double copy of one matrix in scratch (at most 128 MB).
    private const long MaxOrder = 4096;

    private readonly DType _dtype;

    private DetKernel(DType dtype) => _dtype = dtype;

    public static byte[] Encode(DType dtype) => new DescriptorWriter().U8(Version).U8((byte)dtype).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Float, "element");
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 2, constantCount, 2);
        return new DetKernel(dtype);
    }

    public override string Name => KernelName;

    public override void Validate(in DispatchState d)
    {
        long matrices = DispatchChecks.Size(d.Constant(0), KernelName, "matrix count"), m = d.Constant(1);
        if (m < 0 || m > MaxOrder) throw DispatchChecks.OutOfRange(KernelName, $"matrix order {m} must be in [0, {MaxOrder}]");
        DispatchChecks.Fits(d, 0, DispatchChecks.Product([matrices, m, m], KernelName, "input size"), _dtype.Size(), KernelName, "the input");
        DispatchChecks.Fits(d, 1, matrices, _dtype.Size(), KernelName, "the output");
    }

    private static long MatricesPerWorkgroup(long m) => Math.Max(1, ChunkWork / Math.Max(1, m * m * m));

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        long matrices = d.Constant(0), per = MatricesPerWorkgroup(d.Constant(1));
        return (matrices == 0 ? 0 : (int)Math.Min(int.MaxValue, (matrices + per - 1) / per), 1, 1);
    }

    public override int ScratchBytes(in DispatchState d) => (int)(d.Constant(1) * d.Constant(1) * sizeof(double));

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        long m = d.Constant(1), per = MatricesPerWorkgroup(m), first = wg.X * per, last = Math.Min(d.Constant(0), first + per);
        byte* x = d.Binding(0).Data, y = d.Binding(1).Data;
        double* a = (double*)wg.Scratch;
        int size = _dtype.Size();
        for (long b = first; b < last; b++)
        {
            byte* src = x + b * m * m * size;
            for (long e = 0; e < m * m; e++) a[e] = ElementRows.LoadOne<double>(_dtype, src + e * size);
            ElementRows.StoreOne(Determinant(a, (int)m), _dtype, y + b * size);
        }
    }

    /// <summary>The determinant of the row-major m×m matrix <paramref name="a"/>, which is overwritten by its elimination.</summary>
    private static double Determinant(double* a, int m)
    {
        double det = 1;
        for (int col = 0; col < m; col++)
        {
            // The largest pivot keeps the elimination stable.
            int pivot = col;
            for (int r = col + 1; r < m; r++)
                if (Math.Abs(a[(long)r * m + col]) > Math.Abs(a[(long)pivot * m + col])) pivot = r;
            double p = a[(long)pivot * m + col];
            if (p == 0) return 0;
            if (pivot != col)
            {
                for (int c = col; c < m; c++) (a[(long)col * m + c], a[(long)pivot * m + c]) = (a[(long)pivot * m + c], a[(long)col * m + c]);
                det = -det;
            }
            det *= p;
            for (int r = col + 1; r < m; r++)
            {
                double factor = a[(long)r * m + col] / p;
                if (factor == 0) continue;
                for (int c = col + 1; c < m; c++) a[(long)r * m + c] -= factor * a[(long)col * m + c];
            }
        }
        return det;
    }
}
