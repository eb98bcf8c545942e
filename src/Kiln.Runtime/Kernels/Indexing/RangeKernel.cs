using Kiln.Runtime.Hal;
using Kiln.Runtime.Kernels.Elementwise;

namespace Kiln.Runtime.Kernels.Indexing;

/// <summary>
/// The portable "range" kernel: y[i] = start + i·delta for the n values of Range(start, limit,
/// delta), integers in 64-bit arithmetic, floats in double and rounded once (as the reference
/// evaluator does). The kernel counts the range itself (ceil((limit − start) / delta), at least 0)
/// and fails unless that is the n the program sized y for: the host computes n for integer ranges;
/// a float range's n is the declared one, or counted first by this kernel in its counting mode
/// (the host cannot do float arithmetic): it writes n as one int64, which the host reads to size y.
/// Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 element dtype · u8 mode (0: values, 1: count)
/// </code>
/// Bindings: start, limit, delta (one element each), then y (values) or the int64 count. Push
/// constants: n (values), none (count). One workgroup per chunk.
/// Immutable after load; thread-safe.
/// </summary>
public sealed unsafe class RangeKernel : Kernel
{
    public const string KernelName = "range";
    public const byte Version = 1;
    private const long Chunk = 64 * 1024;

    private readonly DType _dtype;
    private readonly bool _countOnly;

    private RangeKernel(DType dtype, bool countOnly) => (_dtype, _countOnly) = (dtype, countOnly);

    public static bool Supports(DType dtype) => dtype is DType.Float32 or DType.Float64 or DType.Float16 or DType.BFloat16
        or DType.Int8 or DType.Int16 or DType.Int32 or DType.Int64 or DType.UInt8 or DType.UInt16 or DType.UInt32 or DType.UInt64;

    public static byte[] Encode(DType dtype, bool countOnly = false) => new DescriptorWriter().U8(Version).U8((byte)dtype).U8(countOnly ? 1 : 0).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Numeric, "element");
        if (!Supports(dtype)) throw r.Invalid($"ranges of {dtype.Name()} are not supported");
        bool countOnly = r.ReadFlag("count mode");
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 4, constantCount, countOnly ? 0 : 1);
        return new RangeKernel(dtype, countOnly);
    }

    public override string Name => KernelName;

    private bool IsFloat => _dtype is DType.Float32 or DType.Float64 or DType.Float16 or DType.BFloat16;

    private double ReadDouble(in DispatchState d, int binding) => _dtype switch
    {
        DType.Float32 => *(float*)d.Binding(binding).Data,
        DType.Float64 => *(double*)d.Binding(binding).Data,
        DType.Float16 => (double)*(Half*)d.Binding(binding).Data,
        _ => ScalarMath.ToBFloat16Float(*(ushort*)d.Binding(binding).Data),
    };

    private long ReadInteger(in DispatchState d, int binding)
    {
        byte* p = d.Binding(binding).Data;
        return _dtype switch
        {
            DType.Int8 => *(sbyte*)p, DType.UInt8 => *p, DType.Int16 => *(short*)p, DType.UInt16 => *(ushort*)p,
            DType.Int32 => *(int*)p, DType.UInt32 => *(uint*)p, DType.Int64 => *(long*)p,
            _ => (long)*(ulong*)p,
        };
    }

    /// <summary>The element count Range defines for these operands.</summary>
    private long Count(in DispatchState d)
    {
        if (IsFloat)
        {
            double start = ReadDouble(d, 0), limit = ReadDouble(d, 1), delta = ReadDouble(d, 2);
            if (delta == 0) throw DispatchChecks.OutOfRange(KernelName, "delta is 0");
            double n = Math.Ceiling((limit - start) / delta);
            if (double.IsNaN(n) || n > int.MaxValue) throw DispatchChecks.OutOfRange(KernelName, $"range from {start} to {limit} by {delta} has too many elements");
            return Math.Max((long)n, 0);
        }
        long s = ReadInteger(d, 0), l = ReadInteger(d, 1), step = ReadInteger(d, 2);
        if (step == 0) throw DispatchChecks.OutOfRange(KernelName, "delta is 0");
        Int128 span = (Int128)l - s;
        Int128 count = step > 0 ? (span + step - 1) / step : (span + step + 1) / step;
        return count < 0 ? 0 : count > int.MaxValue ? long.MaxValue : (long)count;
    }

    public override void Validate(in DispatchState d)
    {
        int size = _dtype.Size();
        for (int b = 0; b < 3; b++)
            if (d.Binding(b).Length != size) throw DispatchChecks.OutOfRange(KernelName, $"operand {b} must hold one {_dtype.Name()}, its binding has {d.Binding(b).Length} bytes");
        if (_countOnly)
        {
            if (d.Binding(3).Length != sizeof(long)) throw DispatchChecks.OutOfRange(KernelName, $"the count binding has {d.Binding(3).Length} bytes, not 8");
            if (Count(d) == long.MaxValue) throw DispatchChecks.OutOfRange(KernelName, "the range has too many elements");
            return;
        }
        long n = DispatchChecks.Size(d.Constant(0), KernelName, "range length");
        long count = Count(d);
        if (count != n) throw DispatchChecks.OutOfRange(KernelName, $"the operands give {count} elements, the program was compiled for {n}");
        DispatchChecks.Fits(d, 3, n, size, KernelName, "the output");
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) =>
        _countOnly ? (1, 1, 1) : ((int)((d.Constant(0) + Chunk - 1) / Chunk), 1, 1);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        if (_countOnly)
        {
            *(long*)d.Binding(3).Data = Count(d);
            return;
        }
        long first = wg.X * Chunk, last = Math.Min(d.Constant(0), first + Chunk);
        byte* y = d.Binding(3).Data;
        if (IsFloat)
        {
            double start = ReadDouble(d, 0), delta = ReadDouble(d, 2);
            for (long i = first; i < last; i++)
            {
                double v = start + i * delta;
                switch (_dtype)
                {
                    case DType.Float32: ((float*)y)[i] = (float)v; break;
                    case DType.Float64: ((double*)y)[i] = v; break;
                    case DType.Float16: ((Half*)y)[i] = (Half)v; break;
                    default: ((ushort*)y)[i] = ScalarMath.FromFloatToBFloat16((float)v); break;
                }
            }
            return;
        }
        long s = ReadInteger(d, 0), step = ReadInteger(d, 2);
        for (long i = first; i < last; i++)
        {
            long v = unchecked(s + i * step);
            switch (_dtype.Size())
            {
                case 1: y[i] = (byte)v; break;
                case 2: ((short*)y)[i] = (short)v; break;
                case 4: ((int*)y)[i] = (int)v; break;
                default: ((long*)y)[i] = v; break;
            }
        }
    }
}
