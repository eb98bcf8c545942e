namespace Kiln.Runtime.Kernels.Reduction;

/// <summary>What each element contributes before it is combined.</summary>
public enum ReduceMap : byte { Identity = 0, Abs = 1, Square = 2 }

/// <summary>How contributions combine (each has an identity: 0, 1, -inf, +inf, -inf).</summary>
public enum ReduceCombine : byte { Sum = 0, Product = 1, Max = 2, Min = 3, LogSumExp = 4 }

/// <summary>What happens to a group's combined value before it is stored.</summary>
public enum ReduceFinalize : byte { None = 0, Divide = 1, Sqrt = 2, Log = 3 }

/// <summary>Where the reduced axes come from.</summary>
public enum ReduceAxes : byte
{
    /// <summary>A push constant: bit d set reduces axis d.</summary>
    Mask = 0,
    /// <summary>An int64 axes binding (negative axes count from the end); empty reduces every axis.</summary>
    BindingOrAll = 1,
    /// <summary>An int64 axes binding; empty reduces nothing (each element is mapped and finalized alone).</summary>
    BindingOrNone = 2,
}

/// <summary>
/// The descriptor of a "reduce" kernel: an ONNX reduction is a map (x, |x|, x²), a combine (sum,
/// product, max, min, log-sum-exp) and a finalize (divide by a count, sqrt, log) — ReduceMean is
/// (identity, sum, divide), ReduceL2 (square, sum, sqrt). Encoding (little-endian):
/// <code>
/// u8 version(1) · u8 map · u8 combine · u8 finalize · u8 input dtype · u8 output dtype · u8 rank (≤ 8) · u8 axes source
/// </code>
/// Bindings: the input (contiguous, row-major), the axes (int64, only for the binding sources),
/// the output. Push constants: the input dims (rank values), the axes mask (Mask source only),
/// the divisor (used by finalize Divide), and the slice count S ≥ 1. With S = 1 the output holds
/// one value per group in the kept axes' row-major order. With S &gt; 1 the reduced elements of
/// each group are cut into S slices and the output is [S, groups] of partial values (no
/// finalize), which a second reduce over axis 0 combines: so one large reduction spreads over
/// many workgroups without the result depending on how many workers run it.
/// </summary>
public sealed record ReduceDescriptor(ReduceMap Map, ReduceCombine Combine, ReduceFinalize Finalize, DType Input, DType Output, int Rank, ReduceAxes Axes)
{
    public const byte Version = 1;
    public const int MaxRank = 8;

    public int BindingCount => Axes == ReduceAxes.Mask ? 2 : 3;
    public int ConstantCount => Rank + (Axes == ReduceAxes.Mask ? 1 : 0) + 2;

    /// <summary>Index of the mask push constant (Mask source), then the divisor and the slice count.</summary>
    public int MaskConstant => Rank;
    public int DivisorConstant => Rank + (Axes == ReduceAxes.Mask ? 1 : 0);
    public int SlicesConstant => DivisorConstant + 1;

    public byte[] Encode() => new DescriptorWriter().U8(Version).U8((byte)Map).U8((byte)Combine).U8((byte)Finalize)
        .U8((byte)Input).U8((byte)Output).U8(Rank).U8((byte)Axes).ToArray();

    public static ReduceDescriptor Decode(ReadOnlySpan<byte> data)
    {
        var r = new DescriptorReader(data, ReduceKernel.KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var map = (ReduceMap)r.U8();
        var combine = (ReduceCombine)r.U8();
        var finalize = (ReduceFinalize)r.U8();
        if (map > ReduceMap.Square || combine > ReduceCombine.LogSumExp || finalize > ReduceFinalize.Log)
            throw r.Invalid($"unknown reduction ({(byte)map}, {(byte)combine}, {(byte)finalize})");
        if (map != ReduceMap.Identity && combine != ReduceCombine.Sum) throw r.Invalid($"map {map} only goes with a sum");
        var input = r.ReadDType(DTypeKind.Numeric, "input");
        var output = r.ReadDType(DTypeKind.Numeric, "output");
        int rank = r.ReadRank(MaxRank);
        var axes = (ReduceAxes)r.U8();
        if (axes > ReduceAxes.BindingOrNone) throw r.Invalid($"unknown axes source {(byte)axes}");
        r.ExpectEnd();
        return new ReduceDescriptor(map, combine, finalize, input, output, rank, axes);
    }
}
