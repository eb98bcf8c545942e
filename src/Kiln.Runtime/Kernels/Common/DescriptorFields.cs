namespace Kiln.Runtime.Kernels;

/// <summary>
/// The fields kernel descriptors share, read and checked at load: dtypes of the kinds a kernel
/// computes on, ranks, axes and flags, and the binding and push-constant counts a descriptor
/// implies. Failures are InvalidModule errors.
/// </summary>
internal static class DescriptorFields
{
    /// <summary>Reads a dtype field and checks it belongs to the kinds the kernel computes on.</summary>
    public static DType ReadDType(this ref DescriptorReader r, DTypeKind kind, string what)
    {
        byte code = r.U8();
        return DTypes.IsValid(code) && Is((DType)code, kind) ? (DType)code : throw r.Invalid($"{what} dtype {code} is not {kind.ToString().ToLowerInvariant()}");
    }

    public static int ReadRank(this ref DescriptorReader r, int max = 8)
    {
        int rank = r.U8();
        return rank <= max ? rank : throw r.Invalid($"rank {rank} exceeds {max}");
    }

    /// <summary>Reads an axis of a tensor of the given rank: 0 ≤ axis &lt; rank.</summary>
    public static int ReadAxis(this ref DescriptorReader r, int rank)
    {
        int axis = r.U8();
        return axis < rank ? axis : throw r.Invalid($"axis {axis} is outside rank {rank}");
    }

    public static bool ReadFlag(this ref DescriptorReader r, string what)
    {
        byte v = r.U8();
        return v <= 1 ? v == 1 : throw r.Invalid($"{what} must be 0 or 1, got {v}");
    }

    /// <summary>Checks a kernel record's binding and push-constant counts against what its descriptor implies.</summary>
    public static void CheckCounts(string kernel, int bindings, int expectedBindings, int constants, int expectedConstants)
    {
        if (bindings != expectedBindings)
            throw new KilnRuntimeException(StatusCode.InvalidModule, $"kernel '{kernel}': {bindings} bindings, the descriptor needs {expectedBindings}");
        if (constants != expectedConstants)
            throw new KilnRuntimeException(StatusCode.InvalidModule, $"kernel '{kernel}': {constants} push constants, the descriptor needs {expectedConstants}");
    }

    public static bool Is(DType t, DTypeKind kind) => kind switch
    {
        DTypeKind.Float => t is DType.Float32 or DType.Float64 or DType.Float16 or DType.BFloat16,
        DTypeKind.Index => t is DType.Int32 or DType.Int64,
        DTypeKind.Numeric => Is(t, DTypeKind.Float) || t is DType.Int8 or DType.UInt8 or DType.Int16 or DType.UInt16
            or DType.Int32 or DType.UInt32 or DType.Int64 or DType.UInt64 or DType.Bool,
        _ => t.Size() is 1 or 2 or 4 or 8, // Movable: any element a kernel copies as bytes
    };
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
