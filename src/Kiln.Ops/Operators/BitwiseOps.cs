using System.Numerics;
using System.Runtime.CompilerServices;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>BitwiseAnd, BitwiseOr, BitwiseXor, BitwiseNot on integers, and BitShift on unsigned integers.</summary>
[OpFamily]
public static class BitwiseOps
{
    // Sub-byte integers are held one per byte, so bit operations on them would touch bits they do not have.
    private static readonly ElementTypeSet Integers = new("an integer type of 8 to 64 bits", t => t.IsInteger() && t.BitWidth() >= 8);
    private static readonly ElementTypeSet UnsignedIntegers = new("an unsigned integer type of 8 to 64 bits", t => t.IsUnsignedInteger() && t.BitWidth() >= 8);

    public static void Register(OpRegistry r)
    {
        r.Add(new BinaryDefinition("BitwiseAnd", Integers, (_, a, b) => Elementwise.IntegerBinary<AndOp>(a, b)));
        r.Add(new BinaryDefinition("BitwiseOr", Integers, (_, a, b) => Elementwise.IntegerBinary<OrOp>(a, b)));
        r.Add(new BinaryDefinition("BitwiseXor", Integers, (_, a, b) => Elementwise.IntegerBinary<XorOp>(a, b)));
        r.Add(new UnaryDefinition("BitwiseNot", Integers, (_, x) => ElementwiseFunctions.IntegerUnary<NotOp>(x)));
        r.Add(new BinaryDefinition("BitShift", UnsignedIntegers, (op, a, b) => ShiftsLeft(op)
            ? Elementwise.IntegerBinary<ShiftLeftOp>(a, b)
            : Elementwise.IntegerBinary<ShiftRightOp>(a, b), validate: ctx => ShiftsLeft(ctx.Op)));
    }

    public struct AndOp : IIntegerBinaryOperator { public static T Invoke<T>(T a, T b) where T : unmanaged, IBinaryInteger<T> => a & b; }
    public struct OrOp : IIntegerBinaryOperator { public static T Invoke<T>(T a, T b) where T : unmanaged, IBinaryInteger<T> => a | b; }
    public struct XorOp : IIntegerBinaryOperator { public static T Invoke<T>(T a, T b) where T : unmanaged, IBinaryInteger<T> => a ^ b; }
    public struct NotOp : IIntegerUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IBinaryInteger<T> => ~x; }

    /// <summary>a &lt;&lt; b; shifting by the width or more gives 0 (C# would take the count modulo the width).</summary>
    public struct ShiftLeftOp : IIntegerBinaryOperator
    {
        public static T Invoke<T>(T a, T b) where T : unmanaged, IBinaryInteger<T> =>
            b >= T.CreateTruncating(Unsafe.SizeOf<T>() * 8) ? T.Zero : a << int.CreateTruncating(b);
    }

    public struct ShiftRightOp : IIntegerBinaryOperator
    {
        public static T Invoke<T>(T a, T b) where T : unmanaged, IBinaryInteger<T> =>
            b >= T.CreateTruncating(Unsafe.SizeOf<T>() * 8) ? T.Zero : a >>> int.CreateTruncating(b);
    }

    private static bool ShiftsLeft(Operation op) => op.GetString("direction") switch
    {
        "LEFT" => true,
        "RIGHT" => false,
        var other => throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: direction must be LEFT or RIGHT, got '{other}'"),
    };
}
