namespace Kiln.Runtime.Kernels.Pooling;

public enum PoolOp : byte { Max = 0, Average = 1, Lp = 2 }

[Flags]
public enum PoolFlags : byte
{
    None = 0,
    /// <summary>AveragePool divides by the taps inside the padded input, not just the input.</summary>
    CountIncludePad = 1,
    /// <summary>MaxPool also writes the flat index of each maximum (a third binding, int64).</summary>
    Indices = 2,
    /// <summary>Indices count positions within a plane in column-major order (storage_order = 1).</summary>
    ColumnMajorIndices = 4,
}

/// <summary>
/// The descriptor of the "pool" kernel: MaxPool, AveragePool or LpPool over the k spatial axes of
/// an [N, C, spatial...] tensor. Encoding (little-endian):
/// <code>
/// u8 version(1) · u8 op · u8 dtype · u8 k · u8 flags · i64 p · per axis: i64 kernel, i64 stride, i64 dilation
/// </code>
/// Push constants: planes (N·C), then per axis the input sizes, the output sizes, the begin pads
/// and the end pads (4k + 1 values). Output position o along an axis reads input positions
/// o·stride − pad_begin + j·dilation for taps j; positions outside the input contribute nothing.
/// Bindings: X, Y, and for MaxPool with indices an int64 tensor of Y's shape.
/// dtypes: float32 and float64; MaxPool also int8 and uint8.
/// </summary>
public sealed record PoolDescriptor(PoolOp Op, DType DType, PoolFlags Flags, long P, long[] Kernel, long[] Strides, long[] Dilations)
{
    public const byte Version = 1;
    public const int MaxSpatialRank = 6;
    /// <summary>Window sizes, strides and dilations are kept below 2^20 so coordinates never overflow.</summary>
    public const long MaxWindowParameter = 1 << 20;

    public int SpatialRank => Kernel.Length;
    public int ConstantCount => 1 + 4 * SpatialRank;
    public int BindingCount => (Flags & PoolFlags.Indices) != 0 ? 3 : 2;

    public static bool Supports(PoolOp op, DType dtype) =>
        dtype is DType.Float32 or DType.Float64 || (op == PoolOp.Max && dtype is DType.Int8 or DType.UInt8);

    public byte[] Encode()
    {
        using var s = new MemoryStream();
        using var w = new BinaryWriter(s);
        w.Write(Version);
        w.Write((byte)Op);
        w.Write((byte)DType);
        w.Write((byte)SpatialRank);
        w.Write((byte)Flags);
        w.Write(P);
        for (int a = 0; a < SpatialRank; a++)
        {
            w.Write(Kernel[a]);
            w.Write(Strides[a]);
            w.Write(Dilations[a]);
        }
        w.Flush();
        return s.ToArray();
    }

    public static PoolDescriptor Decode(ReadOnlySpan<byte> data)
    {
        var r = new DescriptorReader(data, PoolKernel.KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        byte op = r.U8(), dtype = r.U8(), k = r.U8(), flags = r.U8();
        if (op > (byte)PoolOp.Lp) throw r.Invalid($"unknown pooling op {op}");
        if (!DTypes.IsValid(dtype) || !Supports((PoolOp)op, (DType)dtype)) throw r.Invalid($"dtype {dtype} is not supported for {(PoolOp)op}");
        if (k is 0 or > MaxSpatialRank) throw r.Invalid($"spatial rank {k} is outside [1, {MaxSpatialRank}]");
        if ((flags & ~7) != 0) throw r.Invalid($"unknown flags {flags}");
        if ((flags & (byte)(PoolFlags.Indices | PoolFlags.ColumnMajorIndices)) != 0 && op != (byte)PoolOp.Max) throw r.Invalid("only MaxPool has indices");
        if ((flags & (byte)PoolFlags.CountIncludePad) != 0 && op != (byte)PoolOp.Average) throw r.Invalid("count_include_pad is an AveragePool flag");
        long p = r.I64();
        if (op == (byte)PoolOp.Lp && p is < 1 or > 64) throw r.Invalid($"LpPool p = {p} is outside [1, 64]");
        var kernel = new long[k];
        var strides = new long[k];
        var dilations = new long[k];
        for (int a = 0; a < k; a++)
        {
            kernel[a] = r.I64();
            strides[a] = r.I64();
            dilations[a] = r.I64();
            if (kernel[a] is < 1 or > MaxWindowParameter || strides[a] is < 1 or > MaxWindowParameter || dilations[a] is < 1 or > MaxWindowParameter)
                throw r.Invalid($"axis {a}: kernel {kernel[a]}, stride {strides[a]}, dilation {dilations[a]} must lie in [1, 2^20]");
        }
        r.ExpectEnd();
        return new PoolDescriptor((PoolOp)op, (DType)dtype, (PoolFlags)flags, p, kernel, strides, dilations);
    }
}
