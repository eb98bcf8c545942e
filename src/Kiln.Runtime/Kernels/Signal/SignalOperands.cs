using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Signal;

/// <summary>
/// What the signal kernels share: integer scalar operands read at run time (sizes, steps,
/// axes), which must agree with the shapes a module was compiled for, and float elements read
/// and written as double, the precision the transforms compute in.
/// </summary>
internal static unsafe class SignalOperands
{
    /// <summary>The value of a one-element int32 or int64 binding.</summary>
    public static long ReadScalar(in DispatchState d, int binding, DType dtype, string kernel, string what)
    {
        ref readonly var b = ref d.Binding(binding);
        if (b.Length != dtype.Size()) throw DispatchChecks.OutOfRange(kernel, $"{what} must be one {dtype.Name()} value, its binding has {b.Length} bytes");
        return dtype == DType.Int32 ? *(int*)b.Data : *(long*)b.Data;
    }

    public static double Load(DType dtype, byte* data, long i) => dtype switch
    {
        DType.Float32 => ((float*)data)[i],
        DType.Float64 => ((double*)data)[i],
        _ => ElementRows.LoadOne<double>(dtype, data + i * dtype.Size()),
    };

    public static void Store(DType dtype, byte* data, long i, double value)
    {
        switch (dtype)
        {
            case DType.Float32: ((float*)data)[i] = (float)value; break;
            case DType.Float64: ((double*)data)[i] = value; break;
            default: ElementRows.StoreOne(value, dtype, data + i * dtype.Size()); break;
        }
    }
}
