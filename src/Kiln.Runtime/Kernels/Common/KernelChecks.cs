using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels;

/// <summary>
/// The checks kernels make in Validate and at load: sizes from push constants (never negative,
/// products that cannot overflow), bindings large enough for what the sizes imply, and descriptor
/// fields in range. Every failure names the kernel.
/// </summary>
internal static class KernelChecks
{
    /// <summary>The largest element count or offset a kernel accepts (keeps every offset and byte count far from overflow).</summary>
    public const long MaxElements = 1L << 48;

    public static KilnRuntimeException OutOfRange(string kernel, string message) => new(StatusCode.OutOfRange, $"{kernel}: {message}");

    /// <summary>A size push constant: 0 ≤ n ≤ <see cref="MaxElements"/>.</summary>
    public static long Size(long n, string kernel, string what) =>
        n is >= 0 and <= MaxElements ? n : throw OutOfRange(kernel, $"{what} {n} is out of range");

    /// <summary>The product of sizes, each checked, failing when it exceeds <see cref="MaxElements"/>.</summary>
    public static long Product(ReadOnlySpan<long> sizes, string kernel, string what)
    {
        long total = 1;
        foreach (long n in sizes) total = Multiply(total, Size(n, kernel, what), kernel, what);
        return total;
    }

    public static long Multiply(long a, long b, string kernel, string what)
    {
        if (a == 0 || b == 0) return 0;
        return a <= MaxElements / b ? a * b : throw OutOfRange(kernel, $"{what} overflows ({a} × {b})");
    }

    /// <summary>Checks that binding <paramref name="index"/> holds at least <paramref name="elements"/> elements of <paramref name="elementSize"/> bytes.</summary>
    public static void Fits(in DispatchState d, int index, long elements, int elementSize, string kernel, string what)
    {
        long bytes = Multiply(elements, elementSize, kernel, what);
        if (bytes > d.Binding(index).Length)
            throw OutOfRange(kernel, $"{what} needs {bytes} bytes, its binding has {d.Binding(index).Length}");
    }

    /// <summary>Reads a descriptor's axis field: an axis of a tensor of the given rank, 0 ≤ axis &lt; rank.</summary>
    public static int Axis(ref DescriptorReader r, int rank)
    {
        int axis = r.U8();
        return axis < rank ? axis : throw r.Invalid($"axis {axis} is outside rank {rank}");
    }

    public static int Rank(ref DescriptorReader r, int max = 8)
    {
        int rank = r.U8();
        return rank <= max ? rank : throw r.Invalid($"rank {rank} exceeds {max}");
    }

    /// <summary>Reads a dtype field and checks it belongs to the kinds the kernel computes on.</summary>
    public static DType DType(ref DescriptorReader r, DTypeKind kind, string what)
    {
        byte code = r.U8();
        return DTypes.IsValid(code) && Is((DType)code, kind) ? (DType)code : throw r.Invalid($"{what} dtype {code} is not {kind.ToString().ToLowerInvariant()}");
    }

    public static bool Is(DType t, DTypeKind kind) => kind switch
    {
        DTypeKind.Float => t is Runtime.DType.Float32 or Runtime.DType.Float64 or Runtime.DType.Float16 or Runtime.DType.BFloat16,
        DTypeKind.Index => t is Runtime.DType.Int32 or Runtime.DType.Int64,
        DTypeKind.Numeric => Is(t, DTypeKind.Float) || t is Runtime.DType.Int8 or Runtime.DType.UInt8 or Runtime.DType.Int16 or Runtime.DType.UInt16
            or Runtime.DType.Int32 or Runtime.DType.UInt32 or Runtime.DType.Int64 or Runtime.DType.UInt64 or Runtime.DType.Bool,
        _ => t.Size() is 1 or 2 or 4 or 8, // Movable: any element a kernel copies as bytes
    };

    public static bool Flag(ref DescriptorReader r, string what)
    {
        byte v = r.U8();
        return v <= 1 ? v == 1 : throw r.Invalid($"{what} must be 0 or 1, got {v}");
    }

    /// <summary>Checks a kernel record's binding and push-constant counts against what its descriptor implies.</summary>
    public static void Counts(string kernel, int bindings, int expectedBindings, int constants, int expectedConstants)
    {
        if (bindings != expectedBindings)
            throw new KilnRuntimeException(StatusCode.InvalidModule, $"kernel '{kernel}': {bindings} bindings, the descriptor needs {expectedBindings}");
        if (constants != expectedConstants)
            throw new KilnRuntimeException(StatusCode.InvalidModule, $"kernel '{kernel}': {constants} push constants, the descriptor needs {expectedConstants}");
    }
}

/// <summary>The element types a kernel field accepts.</summary>
internal enum DTypeKind
{
    /// <summary>float32, float64, float16, bfloat16.</summary>
    Float,
    /// <summary>Floats, integers of every width and bool (bool computes as 0/1).</summary>
    Numeric,
    /// <summary>int32 and int64 indices.</summary>
    Index,
    /// <summary>Any element of 1, 2, 4 or 8 bytes (kernels that only move elements).</summary>
    Movable,
}
