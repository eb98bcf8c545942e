using Kiln.Ir;
using Kiln.Runtime;
using Kiln.Runtime.Kernels.Elementwise;

namespace Kiln.Compiler.Lowering.Elementwise;

/// <summary>A register of an elementwise program under construction, with its compute type and the ONNX element type it stands for.</summary>
public readonly record struct Reg(ushort Index, ComputeType Type, ElementType Element);

/// <summary>
/// Builds an <see cref="ElementwiseProgram"/> (the kernel IR): registers in SSA form, typed
/// instructions, loads and stores. Narrow integer results are wrapped back to their type's range
/// after arithmetic, so a fused chain computes exactly what a chain of separate kernels would.
/// Not thread-safe.
/// </summary>
public sealed class ProgramBuilder(int rank)
{
    private readonly List<EwInstruction> _code = [];
    private readonly List<DType> _inputs = [];
    private readonly List<DType> _outputs = [];
    private ushort _next;

    public int Rank { get; } = rank;
    public int InputCount => _inputs.Count;
    public int OutputCount => _outputs.Count;

    public static ComputeType ComputeTypeOf(ElementType t) => ElementwiseProgram.ComputeTypeOf((DType)(byte)t);

    private Reg New(ComputeType type, ElementType element) =>
        new(_next < ElementwiseProgram.MaxRegisters ? _next++ : throw new KilnException(ErrorCode.Unsupported, "elementwise program needs too many registers"), type, element);

    private Reg Emit(EwOp op, ComputeType type, ElementType resultElement, ComputeType resultType, Reg? a = null, Reg? b = null, Reg? c = null, ushort aux = 0, byte flags = 0, long imm = 0)
    {
        var d = New(resultType, resultElement);
        _code.Add(new EwInstruction(op, type, d.Index, a?.Index ?? 0, b?.Index ?? 0, c?.Index ?? 0, aux, flags, imm));
        return d;
    }

    /// <summary>Declares an input of the given element type and loads it.</summary>
    public Reg LoadNewInput(ElementType element)
    {
        int index = _inputs.Count;
        _inputs.Add(CheckSupported(element));
        var type = ComputeTypeOf(element);
        return Emit(EwOp.Load, type, element, type, aux: (ushort)index);
    }

    /// <summary>Stores a value to a new output of the given element type (converting it first if needed).</summary>
    public void StoreNewOutput(Reg value, ElementType element)
    {
        var v = Convert(value, element);
        int index = _outputs.Count;
        _outputs.Add(CheckSupported(element));
        _code.Add(new EwInstruction(EwOp.Store, v.Type, 0, v.Index, 0, 0, (ushort)index, 0, 0));
    }

    private static DType CheckSupported(ElementType t)
    {
        var d = (DType)(byte)t;
        if (!ElementwiseProgram.IsSupported(d)) throw new KilnException(ErrorCode.UnsupportedOperator, $"elementwise kernels do not support {t.OnnxName()} tensors yet");
        return d;
    }

    // ---- constants
    public Reg Float(double value, ElementType element) => ComputeTypeOf(element) switch
    {
        ComputeType.F32 => Emit(EwOp.Const, ComputeType.F32, element, ComputeType.F32, imm: BitConverter.SingleToInt32Bits((float)value)),
        ComputeType.F64 => Emit(EwOp.Const, ComputeType.F64, element, ComputeType.F64, imm: BitConverter.DoubleToInt64Bits(value)),
        _ => Emit(EwOp.Const, ComputeType.I64, element, ComputeType.I64, imm: (long)value),
    };

    public Reg Int(long value, ElementType element = ElementType.Int64) => ComputeTypeOf(element) == ComputeType.I64
        ? Emit(EwOp.Const, ComputeType.I64, element, ComputeType.I64, imm: value)
        : Float(value, element);

    /// <summary>A constant of the same element type as <paramref name="like"/>.</summary>
    public Reg Like(Reg like, double value) => like.Type == ComputeType.I64 ? Int((long)value, like.Element) : Float(value, like.Element);

    // ---- instructions
    public Reg Unary(EwOp op, Reg a, byte flags = 0)
    {
        bool predicate = op is EwOp.IsNaN or EwOp.IsInf or EwOp.Not;
        var r = Emit(op, a.Type, predicate ? ElementType.Bool : a.Element, predicate ? ComputeType.I64 : a.Type, a, flags: flags);
        return op is EwOp.Neg or EwOp.Abs or EwOp.BitNot ? Wrap(r) : r;
    }

    public Reg Binary(EwOp op, Reg a, Reg b)
    {
        if (a.Type != b.Type) throw new InvalidOperationException($"{op}: operand types {a.Type} and {b.Type} differ");
        bool compare = op >= EwOp.Eq;
        var r = Emit(op, a.Type, compare ? ElementType.Bool : a.Element, compare ? ComputeType.I64 : a.Type, a, b);
        return compare ? r : Wrap(r);
    }

    public Reg Select(Reg condition, Reg a, Reg b)
    {
        if (condition.Type != ComputeType.I64) condition = Binary(EwOp.Ne, condition, Like(condition, 0));
        return Emit(EwOp.Select, a.Type, a.Element, a.Type, condition, a, b);
    }

    public Reg MulAdd(Reg a, Reg b, Reg c) => Wrap(Emit(EwOp.MulAdd, a.Type, a.Element, a.Type, a, b, c));

    /// <summary>
    /// Converts a value to another element type with ONNX Cast semantics (truncation toward zero,
    /// wrap, bool = nonzero, rounding to nearest even into narrow float formats, which saturate unless
    /// <paramref name="saturate"/> is false; <paramref name="e8m0Rounding"/> is Cast's round_mode for float8 e8m0).
    /// </summary>
    public Reg Convert(Reg a, ElementType to, bool saturate = true, byte e8m0Rounding = 0)
    {
        if (a.Element == to) return a;
        var target = ComputeTypeOf(to);
        if (ElementwiseProgram.IsNarrowFloat((DType)(byte)to))
        {
            // Compute in float32, then round to the narrow format, as storing it and loading it back would.
            var f32 = a.Type == ComputeType.F32 ? a
                : Emit(EwOp.Cast, a.Type, ElementType.Float32, ComputeType.F32, a, aux: (ushort)ComputeType.F32, flags: (byte)(a.Element == ElementType.UInt64 ? 1 : 0));
            return Emit(EwOp.RoundTo, ComputeType.F32, to, ComputeType.F32, f32, aux: (byte)to, flags: (byte)((saturate ? 0 : 1) | (e8m0Rounding << 1)));
        }
        if (to == ElementType.Bool)
            return a.Type == ComputeType.I64 && a.Element == ElementType.Bool ? a with { Element = to } : Binary(EwOp.Ne, a, Like(a, 0)) with { Element = to };
        bool unsignedSource = a.Element == ElementType.UInt64;
        var r = a.Type == target ? a with { Element = to }
            : Emit(EwOp.Cast, a.Type, to, target, a, aux: (ushort)target, flags: (byte)(unsignedSource || to == ElementType.UInt64 ? 1 : 0));
        return Wrap(r);
    }

    /// <summary>Brings an I64 value back into the range of a narrower integer type (sign- or zero-extends its low bits).</summary>
    public Reg Wrap(Reg r)
    {
        if (r.Type != ComputeType.I64) return r;
        int bits = r.Element switch
        {
            ElementType.Int2 or ElementType.UInt2 => 2,
            ElementType.Int4 or ElementType.UInt4 => 4,
            ElementType.Int8 or ElementType.UInt8 => 8,
            ElementType.Int16 or ElementType.UInt16 => 16,
            ElementType.Int32 or ElementType.UInt32 => 32,
            _ => 64,
        };
        if (bits == 64) return r;
        var shift = Int(64 - bits);
        var up = Emit(EwOp.Shl, ComputeType.I64, r.Element, ComputeType.I64, r, shift);
        return Emit(r.Element.IsSignedInteger() ? EwOp.ShrS : EwOp.ShrU, ComputeType.I64, r.Element, ComputeType.I64, up, shift);
    }

    public ElementwiseProgram Build() => new()
    {
        Rank = Rank,
        Inputs = _inputs.ToArray(),
        Outputs = _outputs.ToArray(),
        RegisterCount = _next,
        Instructions = _code.ToArray(),
    };
}
