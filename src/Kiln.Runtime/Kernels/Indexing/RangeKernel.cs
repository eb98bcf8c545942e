using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Indexing;

/// <summary>
/// The portable "range" kernel: Range with operands known only at run time, start + i·delta for
/// i in [0, n). n is max(ceil((limit − start)/delta), 0), exact for integers and in double for
/// floats; the values are computed in the same precision and stored once (no accumulated error).
/// Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 dtype (float or signed integer)
/// </code>
/// Bindings: start, limit, delta (one value each), y. Push constants: the length the result was
/// compiled for, which the operands must give at run time.
/// </summary>
public sealed unsafe class RangeKernel : Kernel
{
    public const string KernelName = "range";
    public const byte Version = 1;

    private readonly DType _dtype;

    private RangeKernel(DType dtype) => _dtype = dtype;

    private static bool IsFloat(DType t) => t is DType.Float32 or DType.Float64 or DType.Float16 or DType.BFloat16;

    public static bool Supports(DType t) => IsFloat(t) || t is DType.Int8 or DType.Int16 or DType.Int32 or DType.Int64;

    public static byte[] Encode(DType dtype) => new DescriptorWriter().U8(Version).U8((byte)dtype).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Numeric, "element");
        if (!Supports(dtype)) throw r.Invalid($"range of {dtype.Name()} is not supported");
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 4, constantCount, 1);
        return new RangeKernel(dtype);
    }

    public override string Name => KernelName;

    private double Operand(in DispatchState d, int binding, string what)
    {
        ref readonly var b = ref d.Binding(binding);
        if (b.Length != _dtype.Size()) throw DispatchChecks.OutOfRange(KernelName, $"{what} must be one {_dtype.Name()} value, its binding has {b.Length} bytes");
        return ElementRows.LoadOne<double>(_dtype, b.Data);
    }

    private long IntegerOperand(in DispatchState d, int binding) => ElementRows.LoadOne<long>(_dtype, d.Binding(binding).Data);

    public override void Validate(in DispatchState d)
    {
        long n = DispatchChecks.Size(d.Constant(0), KernelName, "length");
        double start = Operand(d, 0, "start"), limit = Operand(d, 1, "limit"), delta = Operand(d, 2, "delta");
        if (delta == 0) throw DispatchChecks.OutOfRange(KernelName, "delta is 0");
        long given;
        if (IsFloat(_dtype))
        {
            double count = Math.Ceiling((limit - start) / delta);
            if (double.IsNaN(count) || count > DispatchChecks.MaxElements)
                throw DispatchChecks.OutOfRange(KernelName, $"a range from {start} to {limit} by {delta} has too many elements");
            given = Math.Max((long)count, 0);
        }
        else
        {
            long s = IntegerOperand(d, 0), l = IntegerOperand(d, 1), step = IntegerOperand(d, 2);
            Int128 span = (Int128)l - s;
            Int128 count = step > 0 ? (span + step - 1) / step : (span + step + 1) / step;
            given = count < 0 ? 0 : count > DispatchChecks.MaxElements ? DispatchChecks.MaxElements + 1 : (long)count;
        }
        if (given != n) throw DispatchChecks.OutOfRange(KernelName, $"start {start}, limit {limit} and delta {delta} give {given} elements at run time, but the result was compiled for {n}");
        DispatchChecks.Fits(d, 3, n, _dtype.Size(), KernelName, "the result");
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) => (d.Constant(0) == 0 ? 0 : 1, 1, 1);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        long n = d.Constant(0);
        byte* y = d.Binding(3).Data;
        int size = _dtype.Size();
        if (IsFloat(_dtype))
        {
            double start = ElementRows.LoadOne<double>(_dtype, d.Binding(0).Data), delta = ElementRows.LoadOne<double>(_dtype, d.Binding(2).Data);
            for (long i = 0; i < n; i++) ElementRows.StoreOne(start + i * delta, _dtype, y + i * size);
        }
        else
        {
            long start = IntegerOperand(d, 0), delta = IntegerOperand(d, 2);
            for (long i = 0; i < n; i++) ElementRows.StoreOne(unchecked(start + i * delta), _dtype, y + i * size);
        }
    }
}
