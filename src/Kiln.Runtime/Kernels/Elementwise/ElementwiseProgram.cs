using System.Buffers.Binary;

namespace Kiln.Runtime.Kernels.Elementwise;

// The kernel IR of Kiln's fused elementwise work: a straight-line program, evaluated for every
// element of an N-d iteration space, that loads broadcast inputs, computes in one of three compute
// types, and stores outputs. The compiler builds it (fusing chains of ONNX elementwise operators
// into one program); the portable kernel interprets it over tiles; the IL, C# and C targets
// render the same program as code. A program depends only on itself: constants are immediates.

/// <summary>The types values have inside a program. Booleans are I64 0 or 1; unsigned integers are I64 bit patterns.</summary>
public enum ComputeType : byte { F32 = 0, F64 = 1, I64 = 2 }

public enum EwOp : byte
{
    // Data movement
    Load = 0,       // dst = input[Aux] converted to its compute type
    Store = 1,      // output[Aux] = A converted to the output's dtype
    Const = 2,      // dst = Immediate (bits of a float, double or long, by Type)
    Cast = 3,       // dst (type Aux) = A (type Type); Flags: 1 = source is unsigned
    RoundTo = 4,    // F32: dst = A rounded to the float format of dtype Aux (f16, bf16, float8, float4, e8m0);
                    //      Flags: 1 = no saturation (overflow to inf/NaN), bits 1-2 = e8m0 rounding (0 up, 1 down, 2 nearest)
    // Unary (float types unless noted)
    Neg = 10, Abs = 11, Exp = 12, Log = 13, Sqrt = 14, Sin = 15, Cos = 16, Tan = 17, Asin = 18, Acos = 19,
    Atan = 20, Sinh = 21, Cosh = 22, Tanh = 23, Asinh = 24, Acosh = 25, Atanh = 26, Erf = 27, Floor = 28,
    Ceil = 29, Round = 30, Sign = 31, Reciprocal = 32, Sigmoid = 33,
    IsNaN = 34,     // -> I64 0/1
    IsInf = 35,     // -> I64 0/1; Flags: 1 = detect +inf, 2 = detect -inf
    Not = 36,       // I64: x == 0
    BitNot = 37,    // I64
    // Binary (operands of Type)
    Add = 50, Sub = 51, Mul = 52,
    Div = 53,       // float division; I64: truncating signed division (x/0 = 0)
    DivU = 54,      // I64 unsigned division
    Mod = 55,       // float: fmod (sign of dividend); I64: floor modulo (sign of divisor)
    FMod = 56,      // I64: truncated remainder (sign of dividend)
    ModU = 57,
    Pow = 58,       // float pow; I64 integer power
    Min = 59, Max = 60, MinU = 61, MaxU = 62,
    BitAnd = 63, BitOr = 64, BitXor = 65, Shl = 66, ShrU = 67, ShrS = 68,
    Eq = 70, Ne = 71, Lt = 72, Le = 73, LtU = 74, LeU = 75,   // -> I64 0/1
    // Ternary
    Select = 80,    // dst = A != 0 ? B : C   (A is I64)
    MulAdd = 81,    // dst = A * B + C
}

/// <summary>One instruction: an opcode, the operand compute type, registers, an auxiliary field and an immediate.</summary>
public readonly record struct EwInstruction(EwOp Op, ComputeType Type, ushort Dst, ushort A, ushort B, ushort C, ushort Aux, byte Flags, long Immediate)
{
    public const int EncodedSize = 20;

    public void Encode(Span<byte> s)
    {
        s[0] = (byte)Op; s[1] = (byte)Type;
        BinaryPrimitives.WriteUInt16LittleEndian(s[2..], Dst);
        BinaryPrimitives.WriteUInt16LittleEndian(s[4..], A);
        BinaryPrimitives.WriteUInt16LittleEndian(s[6..], B);
        BinaryPrimitives.WriteUInt16LittleEndian(s[8..], C);
        BinaryPrimitives.WriteUInt16LittleEndian(s[10..], Aux);
        s[12] = Flags; s[13] = 0; s[14] = 0; s[15] = 0;
        BinaryPrimitives.WriteInt32LittleEndian(s[16..], 0);
        // The immediate follows in a separate 8-byte field (see ElementwiseProgram.Encode).
    }

    public override string ToString() => Op switch
    {
        EwOp.Load => $"r{Dst} = load in{Aux} : {Type}",
        EwOp.Store => $"store out{Aux}, r{A}",
        EwOp.Const => $"r{Dst} = const {FormatImmediate()} : {Type}",
        EwOp.Cast => $"r{Dst} = cast r{A} : {Type} -> {(ComputeType)Aux}{(Flags != 0 ? " unsigned" : "")}",
        EwOp.RoundTo => $"r{Dst} = round r{A} to {((DType)Aux).Name()}{((Flags & 1) != 0 ? " no-saturate" : "")}",
        EwOp.Select or EwOp.MulAdd => $"r{Dst} = {Op.ToString().ToLowerInvariant()} r{A}, r{B}, r{C} : {Type}",
        _ when (byte)Op < 50 => $"r{Dst} = {Op.ToString().ToLowerInvariant()} r{A} : {Type}",
        _ => $"r{Dst} = {Op.ToString().ToLowerInvariant()} r{A}, r{B} : {Type}",
    };

    private string FormatImmediate() => Type switch
    {
        ComputeType.F32 => BitConverter.Int32BitsToSingle((int)Immediate).ToString("R"),
        ComputeType.F64 => BitConverter.Int64BitsToDouble(Immediate).ToString("R"),
        _ => Immediate.ToString(),
    };
}

/// <summary>
/// An elementwise program and its interface: the dtypes of its inputs and outputs and the rank
/// of its iteration space. Encoding (little-endian):
/// <code>
/// u8 version(1) · u8 rank · u8 inputs · u8 outputs · u8 dtype per input · u8 dtype per output ·
/// u16 registers · u16 instructions · per instruction: 20 bytes (op, type, dst, a, b, c, aux, flags, pad) + i64 immediate
/// </code>
/// Dispatch constants: the iteration shape (rank values); then for each input and then each
/// output, a base element offset and rank element strides (0 along broadcast dimensions, negative
/// for reversed slices). Element i of the iteration space reads input k at
/// base_k + Σ index_d · stride_k,d, and likewise writes outputs, so one kernel also expresses
/// transposes, slices, broadcasts, and writes into a slice of a larger tensor (concat, padding).
/// Bindings: inputs, then outputs.
/// </summary>
public sealed class ElementwiseProgram
{
    public const byte Version = 1;
    public const int MaxRank = 8;
    public const int MaxRegisters = 512;

    public required int Rank { get; init; }
    public required DType[] Inputs { get; init; }
    public required DType[] Outputs { get; init; }
    public required int RegisterCount { get; init; }
    public required EwInstruction[] Instructions { get; init; }

    public int ConstantCount => Rank + (Rank + 1) * (Inputs.Length + Outputs.Length);

    /// <summary>Index of the base-offset constant of operand k (inputs first, then outputs); its strides follow.</summary>
    public int OperandConstants(int k) => Rank + (Rank + 1) * k;

    public byte[] Encode()
    {
        int size = 4 + Inputs.Length + Outputs.Length + 4 + Instructions.Length * (EwInstruction.EncodedSize + 8);
        var bytes = new byte[size];
        var s = bytes.AsSpan();
        s[0] = Version; s[1] = (byte)Rank; s[2] = (byte)Inputs.Length; s[3] = (byte)Outputs.Length;
        int p = 4;
        foreach (var d in Inputs) s[p++] = (byte)d;
        foreach (var d in Outputs) s[p++] = (byte)d;
        BinaryPrimitives.WriteUInt16LittleEndian(s[p..], (ushort)RegisterCount); p += 2;
        BinaryPrimitives.WriteUInt16LittleEndian(s[p..], (ushort)Instructions.Length); p += 2;
        foreach (var ins in Instructions)
        {
            ins.Encode(s[p..]);
            p += EwInstruction.EncodedSize;
            BinaryPrimitives.WriteInt64LittleEndian(s[p..], ins.Immediate);
            p += 8;
        }
        return bytes;
    }

    /// <summary>Decodes and verifies a program: every register defined before use, types consistent, indices in range.</summary>
    public static ElementwiseProgram Decode(ReadOnlySpan<byte> data)
    {
        var r = new DescriptorReader(data, "elementwise");
        if (r.U8() != Version) throw r.Invalid("unsupported program version");
        int rank = r.U8(), nin = r.U8(), nout = r.U8();
        if (rank > MaxRank) throw r.Invalid($"rank {rank} exceeds {MaxRank}");
        if (nout == 0) throw r.Invalid("a program needs at least one output");
        var inputs = new DType[nin];
        var outputs = new DType[nout];
        for (int i = 0; i < nin; i++) inputs[i] = ReadDType(ref r);
        for (int i = 0; i < nout; i++) outputs[i] = ReadDType(ref r);
        int regs = r.U16(), count = r.U16();
        if (regs > MaxRegisters) throw r.Invalid($"{regs} registers exceed {MaxRegisters}");
        var ins = new EwInstruction[count];
        var types = new ComputeType?[regs];
        var stored = new bool[nout];
        for (int k = 0; k < count; k++)
        {
            var op = (EwOp)r.U8();
            var type = (ComputeType)r.U8();
            ushort dst = r.U16(), a = r.U16(), b = r.U16(), c = r.U16(), aux = r.U16();
            byte flags = r.U8();
            r.Bytes(7);
            long imm = r.I64();
            ins[k] = new EwInstruction(op, type, dst, a, b, c, aux, flags, imm);
            if (type > ComputeType.I64) throw r.Invalid($"instruction {k}: unknown compute type {(byte)type}");
            if (op is not (EwOp.Load or EwOp.Const or EwOp.Store) && (dst == a || (op >= EwOp.Add && dst == b) || (op >= EwOp.Select && dst == c)))
                throw r.Invalid($"instruction {k} ({op}) writes r{dst}, which it also reads");
            var result = Verify(ref r, k, ins[k], types, inputs, outputs, stored);
            if (result is { } t)
            {
                if (dst >= regs) throw r.Invalid($"instruction {k}: register r{dst} is outside the program's {regs}");
                types[dst] = t;
            }
        }
        r.ExpectEnd();
        for (int i = 0; i < nout; i++)
            if (!stored[i]) throw r.Invalid($"output {i} is never stored");
        return new ElementwiseProgram { Rank = rank, Inputs = inputs, Outputs = outputs, RegisterCount = regs, Instructions = ins };
    }

    private static DType ReadDType(ref DescriptorReader r)
    {
        byte d = r.U8();
        if (!DTypes.IsValid(d) || !IsSupported((DType)d)) throw r.Invalid($"dtype {d} is not supported by elementwise kernels");
        return (DType)d;
    }

    public static bool IsSupported(DType t) => t is not (DType.String or DType.Complex64 or DType.Complex128);

    /// <summary>Float formats narrower than float32: computed in F32, rounded to their format by RoundTo and on store.</summary>
    public static bool IsNarrowFloat(DType t) => t is DType.Float16 or DType.BFloat16 or DType.Float8E4M3FN or DType.Float8E4M3FNUZ
        or DType.Float8E5M2 or DType.Float8E5M2FNUZ or DType.Float8E8M0 or DType.Float4E2M1;

    /// <summary>The compute type a dtype loads as and stores from.</summary>
    public static ComputeType ComputeTypeOf(DType t) => t switch
    {
        DType.Float32 => ComputeType.F32,
        DType.Float64 => ComputeType.F64,
        _ when IsNarrowFloat(t) => ComputeType.F32,
        _ => ComputeType.I64,
    };

    /// <summary>Checks one instruction's operands; returns the type of its result (null for Store).</summary>
    private static ComputeType? Verify(ref DescriptorReader r, int k, EwInstruction i, ComputeType?[] types, DType[] inputs, DType[] outputs, bool[] stored)
    {
        ComputeType Operand(ref DescriptorReader rr, ushort reg)
        {
            if (reg >= types.Length || types[reg] is not { } t) throw rr.Invalid($"instruction {k} ({i.Op}) reads r{reg} before it is defined");
            return t;
        }
        void Expect(ref DescriptorReader rr, ushort reg, ComputeType want)
        {
            var t = Operand(ref rr, reg);
            if (t != want) throw rr.Invalid($"instruction {k} ({i.Op}) reads r{reg} as {want}, but it holds {t}");
        }
        switch (i.Op)
        {
            case EwOp.Load:
                if (i.Aux >= inputs.Length) throw r.Invalid($"instruction {k} loads input {i.Aux} of {inputs.Length}");
                if (ComputeTypeOf(inputs[i.Aux]) != i.Type) throw r.Invalid($"instruction {k} loads input {i.Aux} as {i.Type}");
                return i.Type;
            case EwOp.Store:
                if (i.Aux >= outputs.Length) throw r.Invalid($"instruction {k} stores output {i.Aux} of {outputs.Length}");
                Expect(ref r, i.A, ComputeTypeOf(outputs[i.Aux]));
                stored[i.Aux] = true;
                return null;
            case EwOp.Const: return i.Type;
            case EwOp.RoundTo:
                Expect(ref r, i.A, ComputeType.F32);
                if (i.Type != ComputeType.F32 || i.Aux > 255 || !IsNarrowFloat((DType)i.Aux)) throw r.Invalid($"instruction {k} rounds to {i.Aux}, not a narrow float dtype");
                return ComputeType.F32;
            case EwOp.Cast:
                Expect(ref r, i.A, i.Type);
                if (i.Aux > (ushort)ComputeType.I64) throw r.Invalid($"instruction {k} casts to unknown type {i.Aux}");
                return (ComputeType)i.Aux;
            case EwOp.Select:
                Expect(ref r, i.A, ComputeType.I64); Expect(ref r, i.B, i.Type); Expect(ref r, i.C, i.Type);
                return i.Type;
            case EwOp.MulAdd:
                Expect(ref r, i.A, i.Type); Expect(ref r, i.B, i.Type); Expect(ref r, i.C, i.Type);
                return i.Type;
            case >= EwOp.Neg and <= EwOp.BitNot:
                Expect(ref r, i.A, i.Type);
                bool intOnly = i.Op is EwOp.Not or EwOp.BitNot;
                bool both = i.Op is EwOp.Neg or EwOp.Abs or EwOp.Sign;
                if (intOnly && i.Type != ComputeType.I64) throw r.Invalid($"instruction {k}: {i.Op} needs I64");
                if (!intOnly && !both && i.Type == ComputeType.I64) throw r.Invalid($"instruction {k}: {i.Op} needs a float type");
                return i.Op is EwOp.IsNaN or EwOp.IsInf ? ComputeType.I64 : i.Type;
            case >= EwOp.Add and <= EwOp.LeU:
                Expect(ref r, i.A, i.Type); Expect(ref r, i.B, i.Type);
                bool integerOnly = i.Op is EwOp.DivU or EwOp.FMod or EwOp.ModU or EwOp.MinU or EwOp.MaxU or EwOp.BitAnd or EwOp.BitOr
                    or EwOp.BitXor or EwOp.Shl or EwOp.ShrU or EwOp.ShrS or EwOp.LtU or EwOp.LeU;
                if (integerOnly && i.Type != ComputeType.I64) throw r.Invalid($"instruction {k}: {i.Op} needs I64");
                return i.Op >= EwOp.Eq ? ComputeType.I64 : i.Type;
            default:
                throw r.Invalid($"instruction {k} has unknown opcode {(byte)i.Op}");
        }
    }

    public override string ToString()
    {
        var sb = new System.Text.StringBuilder($"elementwise rank {Rank} (");
        for (int i = 0; i < Inputs.Length; i++) sb.Append(i > 0 ? ", " : "").Append(Inputs[i].Name());
        sb.Append(") -> (");
        for (int i = 0; i < Outputs.Length; i++) sb.Append(i > 0 ? ", " : "").Append(Outputs[i].Name());
        sb.Append(')');
        foreach (var ins in Instructions) sb.Append("\n  ").Append(ins);
        return sb.ToString();
    }
}
