using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Reflection.Emit;
using Kiln.Runtime.Kernels.Elementwise;

namespace Kiln.Runtime.Kernels.Il;

/// <summary>Pushes one scalar operand: a local, or one lane of a vector local.</summary>
internal readonly struct ScalarOperand(LocalBuilder local, int lane = -1, MethodInfo? getElement = null)
{
    public void Push(ILGenerator il)
    {
        il.Emit(OpCodes.Ldloc, local);
        if (getElement is null) return;
        il.Emit(OpCodes.Ldc_I4, lane);
        il.Emit(OpCodes.Call, getElement);
    }
}

/// <summary>
/// IL for one element of an elementwise program: each instruction, and loads and stores with their
/// dtype conversions, with exactly the semantics of the portable interpreter (the same opcodes the
/// C# compiler emits for its expressions, or calls to the same functions: <see cref="ScalarMath"/>
/// and the scalar operators of <c>FloatOps</c>). Values are float, double or long by compute type.
/// </summary>
[RequiresDynamicCode("Instantiates generic helper types at run time.")]
[UnconditionalSuppressMessage("Trimming", "IL2070", Justification = "Reads public static methods of the runtime's own FloatOps operator structs, which the renderer's references keep.")]
internal static class ScalarCode
{
    [return: DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicMethods)]
    public static Type ClrType(ComputeType t) => t switch
    {
        ComputeType.F32 => typeof(float),
        ComputeType.F64 => typeof(double),
        _ => typeof(long),
    };

    /// <summary>Pushes the constant of a Const instruction.</summary>
    public static void Constant(ILGenerator il, in EwInstruction ins)
    {
        switch (ins.Type)
        {
            case ComputeType.F32: il.Emit(OpCodes.Ldc_R4, BitConverter.Int32BitsToSingle((int)ins.Immediate)); break;
            case ComputeType.F64: il.Emit(OpCodes.Ldc_R8, BitConverter.Int64BitsToDouble(ins.Immediate)); break;
            default: il.Emit(OpCodes.Ldc_I8, ins.Immediate); break;
        }
    }

    /// <summary>Pushes the result of an instruction (not Load, Store or Const) computed from its operands.</summary>
    public static void Instruction(ILGenerator il, in EwInstruction ins, in ScalarOperand a, in ScalarOperand b, in ScalarOperand c)
    {
        bool isFloat = ins.Type != ComputeType.I64;
        var t = ClrType(ins.Type);
        switch (ins.Op)
        {
            case EwOp.Cast:
                a.Push(il);
                Convert(il, ins.Type, (ComputeType)ins.Aux, (ins.Flags & 1) != 0);
                return;
            case EwOp.Select:
            {
                var otherwise = il.DefineLabel();
                var done = il.DefineLabel();
                a.Push(il);
                il.Emit(OpCodes.Brfalse, otherwise);
                b.Push(il);
                il.Emit(OpCodes.Br, done);
                il.MarkLabel(otherwise);
                c.Push(il);
                il.MarkLabel(done);
                return;
            }
            case EwOp.Reciprocal:
                if (ins.Type == ComputeType.F32) il.Emit(OpCodes.Ldc_R4, 1f); else il.Emit(OpCodes.Ldc_R8, 1.0);
                a.Push(il);
                il.Emit(OpCodes.Div);
                return;
            case EwOp.IsInf:
                IsInfinity(il, ins, a);
                return;
            case EwOp.RoundTo when (DType)ins.Aux == DType.Float16:
                a.Push(il);
                il.Emit(OpCodes.Call, Conversion(typeof(float), typeof(Half)));
                il.Emit(OpCodes.Call, Conversion(typeof(Half), typeof(float)));
                return;
            case EwOp.RoundTo when (DType)ins.Aux == DType.BFloat16:
                a.Push(il);
                il.Emit(OpCodes.Call, Method(typeof(ScalarMath), nameof(ScalarMath.FromFloatToBFloat16), typeof(float)));
                il.Emit(OpCodes.Call, Method(typeof(ScalarMath), nameof(ScalarMath.ToBFloat16Float), typeof(ushort)));
                return;
            case EwOp.MulAdd when !isFloat:
                a.Push(il); b.Push(il); il.Emit(OpCodes.Mul); c.Push(il); il.Emit(OpCodes.Add);
                return;
        }
        int operands = ProgramFacts.OperandCount(ins.Op);
        a.Push(il);
        if (operands > 1) b.Push(il);
        if (operands > 2) c.Push(il);
        switch (ins.Op)
        {
            case EwOp.Neg: il.Emit(OpCodes.Neg); break;
            case EwOp.Add: il.Emit(OpCodes.Add); break;
            case EwOp.Sub: il.Emit(OpCodes.Sub); break;
            case EwOp.Mul: il.Emit(OpCodes.Mul); break;
            case EwOp.Div when isFloat: il.Emit(OpCodes.Div); break;
            case EwOp.Mod when isFloat: il.Emit(OpCodes.Rem); break; // fmod: the sign of the dividend, as C#'s %
            case EwOp.BitAnd: il.Emit(OpCodes.And); break;
            case EwOp.BitOr: il.Emit(OpCodes.Or); break;
            case EwOp.BitXor: il.Emit(OpCodes.Xor); break;
            case EwOp.BitNot: il.Emit(OpCodes.Not); break;
            case EwOp.Not: il.Emit(OpCodes.Ldc_I8, 0L); Compare(il, OpCodes.Ceq, false); break;
            case EwOp.Eq: Compare(il, OpCodes.Ceq, false); break;
            case EwOp.Ne: Compare(il, OpCodes.Ceq, true); break;
            case EwOp.Lt: Compare(il, OpCodes.Clt, false); break;
            // a <= b is !(a > b) with unordered counting as greater, so NaN compares false.
            case EwOp.Le: Compare(il, isFloat ? OpCodes.Cgt_Un : OpCodes.Cgt, true); break;
            case EwOp.LtU: Compare(il, OpCodes.Clt_Un, false); break;
            case EwOp.LeU: Compare(il, OpCodes.Cgt_Un, true); break;
            case EwOp.IsNaN: Call(il, t, nameof(float.IsNaN), t); il.Emit(OpCodes.Conv_U8); break;
            case EwOp.Sign when !isFloat: Call(il, typeof(Math), nameof(Math.Sign), t); il.Emit(OpCodes.Conv_I8); break;
            case EwOp.Min or EwOp.Max: Call(il, MathOf(ins.Type), ins.Op.ToString(), t, t); break;
            case EwOp.MulAdd: Call(il, MathOf(ins.Type), nameof(Math.FusedMultiplyAdd), t, t, t); break;
            case EwOp.Abs when isFloat: Call(il, MathOf(ins.Type), nameof(Math.Abs), t); break;
            case EwOp.Exp or EwOp.Log or EwOp.Sqrt or EwOp.Floor: Call(il, MathOf(ins.Type), ins.Op.ToString(), t); break;
            case EwOp.Ceil: Call(il, MathOf(ins.Type), nameof(Math.Ceiling), t); break;
            default:
                il.Emit(OpCodes.Call, isFloat ? FloatFunction(ins.Op, t) : IntegerFunction(ins.Op));
                break;
        }
    }

    [return: DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicMethods)]
    private static Type MathOf(ComputeType t) => t == ComputeType.F32 ? typeof(MathF) : typeof(Math);

    /// <summary>A comparison's int32 0/1 (negated if asked) widened to the I64 boolean.</summary>
    private static void Compare(ILGenerator il, OpCode compare, bool negate)
    {
        il.Emit(compare);
        if (negate) { il.Emit(OpCodes.Ldc_I4_0); il.Emit(OpCodes.Ceq); }
        il.Emit(OpCodes.Conv_U8);
    }

    private static void IsInfinity(ILGenerator il, in EwInstruction ins, in ScalarOperand a)
    {
        bool positive = (ins.Flags & 1) != 0, negative = (ins.Flags & 2) != 0;
        var t = ClrType(ins.Type);
        if (!positive && !negative) { il.Emit(OpCodes.Ldc_I8, 0L); return; }
        a.Push(il);
        Call(il, t, positive && negative ? nameof(float.IsInfinity) : positive ? nameof(float.IsPositiveInfinity) : nameof(float.IsNegativeInfinity), t);
        il.Emit(OpCodes.Conv_U8);
    }

    /// <summary>Converts the value on the stack between compute types, as the portable kernel's Cast.</summary>
    public static void Convert(ILGenerator il, ComputeType from, ComputeType to, bool unsigned)
    {
        switch (from, to)
        {
            case var _ when from == to: return;
            case (ComputeType.F32, ComputeType.F64): il.Emit(OpCodes.Conv_R8); return;
            case (ComputeType.F64, ComputeType.F32): il.Emit(OpCodes.Conv_R4); return;
            case (_, ComputeType.I64):
                il.Emit(OpCodes.Conv_R8);
                il.Emit(unsigned ? OpCodes.Ldc_I4_1 : OpCodes.Ldc_I4_0);
                il.Emit(OpCodes.Call, Method(typeof(ScalarMath), nameof(ScalarMath.FloatToLong), typeof(double), typeof(bool)));
                return;
            default: // I64 to a float type: (float)(ulong)x compiles to conv.r.un then conv.r4, as here
                if (unsigned) il.Emit(OpCodes.Conv_R_Un);
                il.Emit(to == ComputeType.F32 ? OpCodes.Conv_R4 : OpCodes.Conv_R8);
                return;
        }
    }

    /// <summary>Replaces the element address on the stack with the element, converted to its compute type.</summary>
    public static void Load(ILGenerator il, DType dtype)
    {
        switch (dtype)
        {
            case DType.Float32: il.Emit(OpCodes.Ldind_R4); break;
            case DType.Float64: il.Emit(OpCodes.Ldind_R8); break;
            case DType.Float16: il.Emit(OpCodes.Ldobj, typeof(Half)); il.Emit(OpCodes.Call, Conversion(typeof(Half), typeof(float))); break;
            case DType.BFloat16: il.Emit(OpCodes.Ldind_U2); il.Emit(OpCodes.Call, Method(typeof(ScalarMath), nameof(ScalarMath.ToBFloat16Float), typeof(ushort))); break;
            case DType.Int64 or DType.UInt64: il.Emit(OpCodes.Ldind_I8); break;
            case DType.Int32: il.Emit(OpCodes.Ldind_I4); il.Emit(OpCodes.Conv_I8); break;
            case DType.UInt32: il.Emit(OpCodes.Ldind_U4); il.Emit(OpCodes.Conv_U8); break;
            case DType.Int16: il.Emit(OpCodes.Ldind_I2); il.Emit(OpCodes.Conv_I8); break;
            case DType.UInt16: il.Emit(OpCodes.Ldind_U2); il.Emit(OpCodes.Conv_U8); break;
            case DType.Int8: il.Emit(OpCodes.Ldind_I1); il.Emit(OpCodes.Conv_I8); break;
            case DType.UInt8: il.Emit(OpCodes.Ldind_U1); il.Emit(OpCodes.Conv_U8); break;
            case DType.Bool: il.Emit(OpCodes.Ldind_U1); il.Emit(OpCodes.Ldc_I4_0); il.Emit(OpCodes.Cgt_Un); il.Emit(OpCodes.Conv_U8); break;
            default: throw new InvalidOperationException($"elementwise programs do not load {dtype}");
        }
    }

    /// <summary>Stores the value on the stack (of the dtype's compute type) at the address below it, converted to the dtype.</summary>
    public static void Store(ILGenerator il, DType dtype)
    {
        switch (dtype)
        {
            case DType.Float32: il.Emit(OpCodes.Stind_R4); break;
            case DType.Float64: il.Emit(OpCodes.Stind_R8); break;
            case DType.Float16: il.Emit(OpCodes.Call, Conversion(typeof(float), typeof(Half))); il.Emit(OpCodes.Stobj, typeof(Half)); break;
            case DType.BFloat16: il.Emit(OpCodes.Call, Method(typeof(ScalarMath), nameof(ScalarMath.FromFloatToBFloat16), typeof(float))); il.Emit(OpCodes.Stind_I2); break;
            case DType.Bool: il.Emit(OpCodes.Ldc_I8, 0L); il.Emit(OpCodes.Cgt_Un); il.Emit(OpCodes.Stind_I1); break;
            default:
                switch (dtype.Size())
                {
                    case 8: il.Emit(OpCodes.Stind_I8); break;
                    case 4: il.Emit(OpCodes.Conv_U4); il.Emit(OpCodes.Stind_I4); break;
                    case 2: il.Emit(OpCodes.Conv_U2); il.Emit(OpCodes.Stind_I2); break;
                    default: il.Emit(OpCodes.Conv_U1); il.Emit(OpCodes.Stind_I1); break;
                }
                break;
        }
    }

    /// <summary>The portable kernel's own scalar function for a float instruction (FloatOps&lt;T&gt;.Sin.Invoke, ...).</summary>
    private static MethodInfo FloatFunction(EwOp op, Type t)
    {
        var function = op switch
        {
            EwOp.Sin => typeof(FloatOps<>.Sin), EwOp.Cos => typeof(FloatOps<>.Cos), EwOp.Tan => typeof(FloatOps<>.Tan),
            EwOp.Asin => typeof(FloatOps<>.Asin), EwOp.Acos => typeof(FloatOps<>.Acos), EwOp.Atan => typeof(FloatOps<>.Atan),
            EwOp.Sinh => typeof(FloatOps<>.Sinh), EwOp.Cosh => typeof(FloatOps<>.Cosh), EwOp.Tanh => typeof(FloatOps<>.Tanh),
            EwOp.Asinh => typeof(FloatOps<>.Asinh), EwOp.Acosh => typeof(FloatOps<>.Acosh), EwOp.Atanh => typeof(FloatOps<>.Atanh),
            EwOp.Erf => typeof(FloatOps<>.Erf), EwOp.Round => typeof(FloatOps<>.RoundEven), EwOp.Sign => typeof(FloatOps<>.Sign),
            EwOp.Sigmoid => typeof(FloatOps<>.Sigmoid), EwOp.Pow => typeof(FloatOps<>.Pow),
            _ => throw new InvalidOperationException($"{op} has no float function"),
        };
        return function.MakeGenericType(t).GetMethod("Invoke", BindingFlags.Public | BindingFlags.Static)!;
    }

    private static MethodInfo IntegerFunction(EwOp op)
    {
        string name = op switch
        {
            EwOp.Abs => nameof(ScalarMath.Abs), EwOp.Div => nameof(ScalarMath.Div), EwOp.DivU => nameof(ScalarMath.DivU),
            EwOp.Mod => nameof(ScalarMath.Mod), EwOp.FMod => nameof(ScalarMath.FMod), EwOp.ModU => nameof(ScalarMath.ModU),
            EwOp.Pow => nameof(ScalarMath.PowInt), EwOp.MinU => nameof(ScalarMath.MinU), EwOp.MaxU => nameof(ScalarMath.MaxU),
            EwOp.Shl => nameof(ScalarMath.Shl), EwOp.ShrU => nameof(ScalarMath.ShrU), EwOp.ShrS => nameof(ScalarMath.ShrS),
            _ => throw new InvalidOperationException($"{op} has no integer function"),
        };
        return op == EwOp.Abs ? Method(typeof(ScalarMath), name, typeof(long)) : Method(typeof(ScalarMath), name, typeof(long), typeof(long));
    }

    private static void Call(ILGenerator il, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicMethods)] Type owner, string name, params Type[] parameters) =>
        il.Emit(OpCodes.Call, Method(owner, name, parameters));

    public static MethodInfo Method([DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicMethods)] Type owner, string name, params Type[] parameters) =>
        owner.GetMethod(name, BindingFlags.Public | BindingFlags.Static, parameters) ?? throw new InvalidOperationException($"{owner.Name}.{name} not found");

    /// <summary>The explicit conversion operator between Half and float (overloads differ only by return type).</summary>
    private static MethodInfo Conversion(Type from, Type to)
    {
        foreach (var m in typeof(Half).GetMethods(BindingFlags.Public | BindingFlags.Static))
            if (m.Name == "op_Explicit" && m.ReturnType == to && m.GetParameters() is [var p] && p.ParameterType == from) return m;
        throw new InvalidOperationException($"no conversion from {from.Name} to {to.Name}");
    }
}
