using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Reflection.Emit;
using Kiln.Runtime.Kernels.Elementwise;

namespace Kiln.Runtime.Kernels.Il;

/// <summary>
/// The body of the vector loop: <see cref="Lanes"/> consecutive elements per iteration (as many as
/// one vector holds float32 values). A register is one vector for F32 and two for F64 and I64
/// ("parts"), so types mix freely. Instructions with a vector form use it (arithmetic, min/max,
/// compares, select, fma, abs/neg, exp/log/sin/cos, conversions, contiguous float/int32/int64 loads
/// and stores); the rest run the scalar code lane by lane. A comparison read only as a Select
/// condition stays a lane mask; otherwise it becomes the IR's I64 0/1.
/// Operand cursors point at the iteration's first element (inputs broadcast along the row point at a
/// buffer holding the element <see cref="Lanes"/> times, so every load is a contiguous load).
/// </summary>
[RequiresDynamicCode("Emits IL that instantiates generic vector methods.")]
internal sealed class VectorBody(ILGenerator il, VectorApi api, ElementwiseProgram program, ProgramFacts facts, LocalPool pool, LocalBuilder[] cursors)
{
    /// <summary>A def's vectors: its value parts (null for a mask-only predicate) and, for predicates, its lane mask in the compared type.</summary>
    private sealed class Value(LocalBuilder[]? parts)
    {
        public LocalBuilder[]? Parts = parts;
        public LocalBuilder[]? Mask;
        public ComputeType MaskType;
        public bool Constant;
    }

    private readonly Value?[] _values = new Value?[program.Instructions.Length];

    public int Lanes => api.Bytes / 4;

    private static int PartCount(ComputeType t) => t == ComputeType.F32 ? 1 : 2;
    private int LanesPerPart(ComputeType t) => api.Bytes / ProgramFacts.ByteSize(t);
    private static Type Element(ComputeType t) => ScalarCode.ClrType(t);
    private Type VectorOf(ComputeType t) => api.Of(Element(t));

    /// <summary>Splats the program's constants into vector locals before the loop.</summary>
    public void HoistConstants()
    {
        for (int k = 0; k < program.Instructions.Length; k++)
        {
            var ins = program.Instructions[k];
            if (ins.Op != EwOp.Const) continue;
            var local = pool.Rent(VectorOf(ins.Type));
            ScalarCode.Constant(il, ins);
            Call("Create", Element(ins.Type), Element(ins.Type));
            il.Emit(OpCodes.Stloc, local);
            _values[k] = new Value(PartCount(ins.Type) == 1 ? [local] : [local, local]) { Constant = true };
        }
    }

    public void Emit()
    {
        for (int k = 0; k < program.Instructions.Length; k++)
        {
            var ins = program.Instructions[k];
            switch (ins.Op)
            {
                case EwOp.Const: break;
                case EwOp.Load: _values[k] = new Value(Load(ins)); break;
                case EwOp.Store: Store(ins, Parts(facts.Operand(k, 0))); break;
                case EwOp.Cast: _values[k] = new Value(Cast(k, ins)); break;
                case EwOp.Select: _values[k] = new Value(Select(k, ins)); break;
                case EwOp.Eq or EwOp.Ne or EwOp.Lt or EwOp.Le or EwOp.LtU or EwOp.LeU or EwOp.IsNaN or EwOp.Not:
                    _values[k] = Predicate(k, ins);
                    break;
                default: _values[k] = new Value(Arithmetic(k, ins) ?? PerLane(k, ins)); break;
            }
            foreach (int def in facts.DyingAt(k)) Release(_values[def]!);
        }
    }

    private void Release(Value v)
    {
        if (v.Constant) return;
        foreach (var l in v.Parts ?? []) pool.Return(l);
        foreach (var l in v.Mask ?? []) pool.Return(l);
    }

    private LocalBuilder[] Parts(int def) => _values[def]!.Parts!;
    private LocalBuilder[] Operand(int k, int slot) => Parts(facts.Operand(k, slot));

    private LocalBuilder[] NewParts(ComputeType t)
    {
        var parts = new LocalBuilder[PartCount(t)];
        for (int p = 0; p < parts.Length; p++) parts[p] = pool.Rent(VectorOf(t));
        return parts;
    }

    private void Call(string name, Type element, params Type[] parameters) => il.Emit(OpCodes.Call, api.Method(name, element, parameters));
    private void Lanewise(string name, Type element, int operands) => il.Emit(OpCodes.Call, api.Lanewise(name, element, operands));
    private void Constant(Type element, string name) => il.Emit(OpCodes.Call, api.Constant(element, name));
    private void Ld(LocalBuilder l) => il.Emit(OpCodes.Ldloc, l);
    private void St(LocalBuilder l) => il.Emit(OpCodes.Stloc, l);

    /// <summary>Reinterprets the vector on the stack (no-op when the element types match).</summary>
    private void Reinterpret(Type from, Type to)
    {
        if (from == to) return;
        Call("As" + to.Name, from, api.Of(from));
    }

    /// <summary>Pushes cursor + offset bytes.</summary>
    private void Address(LocalBuilder cursor, int offset)
    {
        Ld(cursor);
        if (offset == 0) return;
        il.Emit(OpCodes.Ldc_I4, offset);
        il.Emit(OpCodes.Add);
    }

    /// <summary>One lanewise vector method applied part by part.</summary>
    private LocalBuilder[] Map(string name, ComputeType t, LocalBuilder[][] operands)
    {
        var result = NewParts(t);
        for (int p = 0; p < result.Length; p++)
        {
            foreach (var operand in operands) Ld(operand[p]);
            Lanewise(name, Element(t), operands.Length);
            St(result[p]);
        }
        return result;
    }

    private LocalBuilder[] Load(in EwInstruction ins)
    {
        var dtype = program.Inputs[ins.Aux];
        var cursor = cursors[ins.Aux];
        var result = NewParts(ins.Type);
        switch (dtype)
        {
            case DType.Float32 or DType.Float64 or DType.Int64 or DType.UInt64:
            {
                var e = Element(ins.Type);
                for (int p = 0; p < result.Length; p++)
                {
                    Address(cursor, p * api.Bytes);
                    Call("Load", e, e.MakePointerType());
                    St(result[p]);
                }
                break;
            }
            case DType.Int32 or DType.UInt32:
            {
                // Lanes int32 values are one vector; widening gives the two int64 parts.
                var narrow = dtype == DType.Int32 ? typeof(int) : typeof(uint);
                var wide = dtype == DType.Int32 ? typeof(long) : typeof(ulong);
                Ld(cursor);
                Call("Load", narrow, narrow.MakePointerType());
                il.Emit(OpCodes.Dup);
                Call("WidenLower", narrow, api.Of(narrow));
                Reinterpret(wide, typeof(long));
                St(result[0]);
                Call("WidenUpper", narrow, api.Of(narrow));
                Reinterpret(wide, typeof(long));
                St(result[1]);
                break;
            }
            default:
                ZeroParts(ins.Type, result);
                for (int j = 0; j < Lanes; j++)
                {
                    BeginSetLane(ins.Type, result, j);
                    Address(cursor, j * dtype.Size());
                    ScalarCode.Load(il, dtype);
                    EndSetLane(ins.Type, result, j);
                }
                break;
        }
        return result;
    }

    private void Store(in EwInstruction ins, LocalBuilder[] value)
    {
        var dtype = program.Outputs[ins.Aux];
        var cursor = cursors[program.Inputs.Length + ins.Aux];
        var t = ins.Type;
        switch (dtype)
        {
            case DType.Float32 or DType.Float64 or DType.Int64 or DType.UInt64:
                for (int p = 0; p < value.Length; p++)
                {
                    Ld(value[p]);
                    Address(cursor, p * api.Bytes);
                    Call("Store", Element(t), VectorOf(t), Element(t).MakePointerType());
                }
                break;
            case DType.Int32 or DType.UInt32:
                Ld(value[0]);
                Ld(value[1]);
                Call("Narrow", typeof(long), VectorOf(t), VectorOf(t)); // truncates each int64 to its low 32 bits
                Ld(cursor);
                Call("Store", typeof(int), api.Of(typeof(int)), typeof(int*));
                break;
            default:
                for (int j = 0; j < Lanes; j++)
                {
                    Address(cursor, j * dtype.Size());
                    LaneOf(t, value, j).Push(il);
                    ScalarCode.Store(il, dtype);
                }
                break;
        }
    }

    private LocalBuilder[] Cast(int k, in EwInstruction ins)
    {
        var from = ins.Type;
        var to = (ComputeType)ins.Aux;
        bool unsigned = (ins.Flags & 1) != 0;
        var a = Operand(k, 0);
        if (from == to)
        {
            var copy = NewParts(to);
            for (int p = 0; p < copy.Length; p++) { Ld(a[p]); St(copy[p]); }
            return copy;
        }
        switch (from, to)
        {
            case (ComputeType.F32, ComputeType.F64):
            {
                var r = NewParts(to);
                Widen(a[0], typeof(float), r, null);
                return r;
            }
            case (ComputeType.F64, ComputeType.F32):
            {
                var r = NewParts(to);
                Ld(a[0]); Ld(a[1]);
                Call("Narrow", typeof(double), VectorOf(from), VectorOf(from));
                St(r[0]);
                return r;
            }
            case (ComputeType.F64, ComputeType.I64) when !unsigned: return Convert("ConvertToInt64", from, to, a); // saturating, as the scalar cast
            case (ComputeType.F32, ComputeType.I64) when !unsigned:
            {
                // Exact widening to double first, as the scalar conversion does.
                var r = NewParts(to);
                Widen(a[0], typeof(float), r, "ConvertToInt64");
                return r;
            }
            case (ComputeType.I64, ComputeType.F64) when !unsigned: return Convert("ConvertToDouble", from, to, a);
            default:
                // Unsigned conversions, and int64 to float32 (through double it would round twice).
                return PerLane(k, ins);
        }
    }

    /// <summary>A conversion method applied part by part (same part count on both sides).</summary>
    private LocalBuilder[] Convert(string name, ComputeType from, ComputeType to, LocalBuilder[] a)
    {
        var result = NewParts(to);
        for (int p = 0; p < result.Length; p++)
        {
            Ld(a[p]);
            Call(name, Element(from), VectorOf(from));
            St(result[p]);
        }
        return result;
    }

    /// <summary>Widens one vector of 32-bit lanes into two parts, optionally converting each with a method of the wide type.</summary>
    private void Widen(LocalBuilder narrow, Type narrowElement, LocalBuilder[] result, string? convert)
    {
        var wideElement = narrowElement == typeof(float) ? typeof(double) : typeof(long);
        for (int p = 0; p < 2; p++)
        {
            Ld(narrow);
            Call(p == 0 ? "WidenLower" : "WidenUpper", narrowElement, api.Of(narrowElement));
            if (convert is not null) Call(convert, wideElement, api.Of(wideElement));
            St(result[p]);
        }
    }

    private Value Predicate(int k, in EwInstruction ins)
    {
        var t = ins.Type;
        var e = Element(t);
        var v = VectorOf(t);
        var a = Operand(k, 0);
        var mask = NewParts(t);
        for (int p = 0; p < mask.Length; p++)
        {
            switch (ins.Op)
            {
                case EwOp.IsNaN: Ld(a[p]); Call("IsNaN", e, v); break;
                case EwOp.Not: Ld(a[p]); Constant(e, "Zero"); Lanewise("Equals", e, 2); break;
                case EwOp.LtU or EwOp.LeU:
                    Ld(a[p]); Reinterpret(typeof(long), typeof(ulong));
                    Ld(Operand(k, 1)[p]); Reinterpret(typeof(long), typeof(ulong));
                    Lanewise(ins.Op == EwOp.LtU ? "LessThan" : "LessThanOrEqual", typeof(ulong), 2);
                    Reinterpret(typeof(ulong), typeof(long));
                    break;
                default:
                    Ld(a[p]); Ld(Operand(k, 1)[p]);
                    Lanewise(ins.Op switch { EwOp.Lt => "LessThan", EwOp.Le => "LessThanOrEqual", _ => "Equals" }, e, 2);
                    if (ins.Op == EwOp.Ne) Lanewise("OnesComplement", e, 1);
                    break;
            }
            St(mask[p]);
        }
        var value = new Value(null) { Mask = mask, MaskType = t };
        if (!facts.OnlySelectCondition(k, ProgramFacts.ByteSize(t))) value.Parts = Booleans(mask, t);
        return value;
    }

    /// <summary>The I64 0/1 values of a lane mask (all-ones lanes become 1).</summary>
    private LocalBuilder[] Booleans(LocalBuilder[] mask, ComputeType maskType)
    {
        var result = NewParts(ComputeType.I64);
        for (int p = 0; p < 2; p++)
        {
            if (maskType == ComputeType.F32)
            {
                // One mask of int32 lanes: sign-extending each half gives int64 lanes of -1 or 0.
                Ld(mask[0]);
                Reinterpret(typeof(float), typeof(int));
                Call(p == 0 ? "WidenLower" : "WidenUpper", typeof(int), api.Of(typeof(int)));
            }
            else
            {
                Ld(mask[p]);
                Reinterpret(Element(maskType), typeof(long));
            }
            Lanewise("Negate", typeof(long), 1);
            St(result[p]);
        }
        return result;
    }

    private LocalBuilder[] Select(int k, in EwInstruction ins)
    {
        var t = ins.Type;
        var e = Element(t);
        var condition = _values[facts.Operand(k, 0)]!;
        var b = Operand(k, 1);
        var c = Operand(k, 2);
        var result = NewParts(t);
        if (condition.Mask is { } mask && ProgramFacts.ByteSize(condition.MaskType) == ProgramFacts.ByteSize(t))
        {
            for (int p = 0; p < result.Length; p++)
            {
                Ld(mask[p]); Reinterpret(Element(condition.MaskType), e);
                Ld(b[p]); Ld(c[p]);
                Lanewise("ConditionalSelect", e, 3);
                St(result[p]);
            }
            return result;
        }
        // From I64 values: lanes equal to zero select C. For float32 values, the two int64 masks narrow to one of int32 lanes.
        var parts = condition.Parts!;
        for (int p = 0; p < result.Length; p++)
        {
            if (t == ComputeType.F32)
            {
                EqualsZero(parts[0]);
                EqualsZero(parts[1]);
                Call("Narrow", typeof(long), api.Of(typeof(long)), api.Of(typeof(long)));
                Reinterpret(typeof(int), e);
            }
            else
            {
                EqualsZero(parts[p]);
                Reinterpret(typeof(long), e);
            }
            Ld(c[p]); Ld(b[p]);
            Lanewise("ConditionalSelect", e, 3);
            St(result[p]);
        }
        return result;
    }

    private void EqualsZero(LocalBuilder int64s)
    {
        Ld(int64s);
        Constant(typeof(long), "Zero");
        Lanewise("Equals", typeof(long), 2);
    }

    /// <summary>Instructions with a vector form; null when the instruction has none (it then runs lane by lane).</summary>
    private LocalBuilder[]? Arithmetic(int k, in EwInstruction ins)
    {
        var t = ins.Type;
        var e = Element(t);
        int n = facts.OperandCount(k);
        LocalBuilder[][] operands = n switch
        {
            1 => [Operand(k, 0)],
            2 => [Operand(k, 0), Operand(k, 1)],
            _ => [Operand(k, 0), Operand(k, 1), Operand(k, 2)],
        };
        if (t != ComputeType.I64)
        {
            switch (ins.Op)
            {
                case EwOp.Neg: return Map("Negate", t, operands);
                case EwOp.Abs: return Map("Abs", t, operands);
                case EwOp.Sqrt: return Map("Sqrt", t, operands);
                case EwOp.Floor: return Map("Floor", t, operands);
                case EwOp.Ceil: return Map("Ceiling", t, operands);
                case EwOp.Round: return Map("Round", t, operands); // to nearest, ties to even
                case EwOp.Exp: return Map("Exp", t, operands);
                case EwOp.Log: return Map("Log", t, operands);
                case EwOp.Add: return Map("Add", t, operands);
                case EwOp.Sub: return Map("Subtract", t, operands);
                case EwOp.Mul: return Map("Multiply", t, operands);
                case EwOp.Div: return Map("Divide", t, operands);
                case EwOp.Min: return Map("Min", t, operands);   // IEEE 754-2019 minimum: NaN wins, -0 < +0
                case EwOp.Max: return Map("Max", t, operands);
                case EwOp.MulAdd: return Map("FusedMultiplyAdd", t, operands);
                case EwOp.Reciprocal:
                {
                    var r = NewParts(t);
                    for (int p = 0; p < r.Length; p++) { Constant(e, "One"); Ld(operands[0][p]); Lanewise("Divide", e, 2); St(r[p]); }
                    return r;
                }
                case EwOp.Sigmoid: return Sigmoid(t, operands[0]);
                default: return null;
            }
        }
        switch (ins.Op)
        {
            case EwOp.Neg: return Map("Negate", t, operands);
            case EwOp.BitNot: return Map("OnesComplement", t, operands);
            case EwOp.Add: return Map("Add", t, operands);
            case EwOp.Sub: return Map("Subtract", t, operands);
            case EwOp.Mul: return Map("Multiply", t, operands);
            case EwOp.Min: return Map("Min", t, operands);
            case EwOp.Max: return Map("Max", t, operands);
            case EwOp.BitAnd: return Map("BitwiseAnd", t, operands);
            case EwOp.BitOr: return Map("BitwiseOr", t, operands);
            case EwOp.BitXor: return Map("Xor", t, operands);
            case EwOp.MinU or EwOp.MaxU:
            {
                var r = NewParts(t);
                for (int p = 0; p < 2; p++)
                {
                    Ld(operands[0][p]); Reinterpret(e, typeof(ulong));
                    Ld(operands[1][p]); Reinterpret(e, typeof(ulong));
                    Lanewise(ins.Op == EwOp.MinU ? "Min" : "Max", typeof(ulong), 2);
                    Reinterpret(typeof(ulong), e);
                    St(r[p]);
                }
                return r;
            }
            case EwOp.MulAdd:
            {
                var r = NewParts(t);
                for (int p = 0; p < 2; p++)
                {
                    Ld(operands[0][p]); Ld(operands[1][p]); Lanewise("Multiply", e, 2);
                    Ld(operands[2][p]); Lanewise("Add", e, 2);
                    St(r[p]);
                }
                return r;
            }
            case EwOp.Abs:
            {
                // x < 0 ? -x : x, so long.MinValue stays itself (a wrapping absolute value).
                var r = NewParts(t);
                for (int p = 0; p < 2; p++)
                {
                    Ld(operands[0][p]); Constant(e, "Zero"); Lanewise("LessThan", e, 2);
                    Ld(operands[0][p]); Lanewise("Negate", e, 1);
                    Ld(operands[0][p]);
                    Lanewise("ConditionalSelect", e, 3);
                    St(r[p]);
                }
                return r;
            }
            case EwOp.Sign:
            {
                // (x < 0 mask) - (x > 0 mask): masks are -1, so negatives give -1 and positives 1.
                var r = NewParts(t);
                for (int p = 0; p < 2; p++)
                {
                    Ld(operands[0][p]); Constant(e, "Zero"); Lanewise("LessThan", e, 2);
                    Ld(operands[0][p]); Constant(e, "Zero"); Lanewise("GreaterThan", e, 2);
                    Lanewise("Subtract", e, 2);
                    St(r[p]);
                }
                return r;
            }
            case EwOp.Shl or EwOp.ShrU or EwOp.ShrS when facts.ConstantValue(facts.Operand(k, 1)) is { } count:
                return ShiftByConstant(ins.Op, operands[0], count);
            default: return null;
        }
    }

    /// <summary>Shifts by a constant count, with the IR's meaning for counts of 64 or more (0, or the sign).</summary>
    private LocalBuilder[] ShiftByConstant(EwOp op, LocalBuilder[] a, long count)
    {
        var r = NewParts(ComputeType.I64);
        var v = api.Of(typeof(long));
        for (int p = 0; p < 2; p++)
        {
            if ((ulong)count >= 64 && op != EwOp.ShrS) Constant(typeof(long), "Zero");
            else
            {
                Ld(a[p]);
                il.Emit(OpCodes.Ldc_I4, (ulong)count >= 64 ? 63 : (int)count);
                Call(op switch { EwOp.Shl => "ShiftLeft", EwOp.ShrU => "ShiftRightLogical", _ => "ShiftRightArithmetic" }, typeof(long), v, typeof(int));
            }
            St(r[p]);
        }
        return r;
    }

    /// <summary>The portable formula, x ≥ 0 ? 1/(1+e^-x) : e^x/(1+e^x), from one exp of -|x|.</summary>
    private LocalBuilder[] Sigmoid(ComputeType t, LocalBuilder[] x)
    {
        var e = Element(t);
        var r = NewParts(t);
        var exp = pool.Rent(VectorOf(t));
        var denominator = pool.Rent(VectorOf(t));
        for (int p = 0; p < r.Length; p++)
        {
            Ld(x[p]); Lanewise("Abs", e, 1); Lanewise("Negate", e, 1); Lanewise("Exp", e, 1); St(exp);
            Constant(e, "One"); Ld(exp); Lanewise("Add", e, 2); St(denominator);
            Ld(x[p]); Constant(e, "Zero"); Lanewise("GreaterThanOrEqual", e, 2);
            Constant(e, "One"); Ld(denominator); Lanewise("Divide", e, 2);
            Ld(exp); Ld(denominator); Lanewise("Divide", e, 2);
            Lanewise("ConditionalSelect", e, 3);
            St(r[p]);
        }
        pool.Return(exp);
        pool.Return(denominator);
        return r;
    }

    /// <summary>Runs an instruction's scalar code on each lane (transcendental functions, integer division, ...).</summary>
    private LocalBuilder[] PerLane(int k, in EwInstruction ins)
    {
        var type = ProgramFacts.ResultType(ins)!.Value;
        var result = NewParts(type);
        ZeroParts(type, result);
        int n = facts.OperandCount(k);
        for (int j = 0; j < Lanes; j++)
        {
            BeginSetLane(type, result, j);
            ScalarCode.Instruction(il, ins, n > 0 ? LaneOfDef(facts.Operand(k, 0), j) : default,
                n > 1 ? LaneOfDef(facts.Operand(k, 1), j) : default, n > 2 ? LaneOfDef(facts.Operand(k, 2), j) : default);
            EndSetLane(type, result, j);
        }
        return result;
    }

    private ScalarOperand LaneOfDef(int def, int lane) => LaneOf(ProgramFacts.ResultType(program.Instructions[def])!.Value, Parts(def), lane);

    private ScalarOperand LaneOf(ComputeType t, LocalBuilder[] parts, int lane)
    {
        int per = LanesPerPart(t);
        return new ScalarOperand(parts[lane / per], lane % per, api.Method("GetElement", Element(t), VectorOf(t), typeof(int)));
    }

    private void ZeroParts(ComputeType t, LocalBuilder[] parts)
    {
        foreach (var part in parts) { Constant(Element(t), "Zero"); St(part); }
    }

    // Setting a lane: push the part and the lane index, then the scalar value, then WithElement.
    private void BeginSetLane(ComputeType t, LocalBuilder[] parts, int lane)
    {
        int per = LanesPerPart(t);
        Ld(parts[lane / per]);
        il.Emit(OpCodes.Ldc_I4, lane % per);
    }

    private void EndSetLane(ComputeType t, LocalBuilder[] parts, int lane)
    {
        Call("WithElement", Element(t), VectorOf(t), typeof(int), Element(t));
        St(parts[lane / LanesPerPart(t)]);
    }
}
