using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Arithmetic elementwise operators: Add, Sub, Mul, Div, Mod, Pow, Neg, Abs, Sign. Each operator
/// is a struct with a generic Invoke, driven by <see cref="Elementwise"/>. The binary ones also
/// propagate symbolic shape values, so shape arithmetic in a model (H*2, N/4) keeps precise shapes.
/// </summary>
[OpFamily]
public static class ElementwiseMath
{
    public static void Register(OpRegistry r)
    {
        r.Add(new ArithmeticDefinition<AddOp>("Add", (a, b) => a + b));
        r.Add(new ArithmeticDefinition<SubOp>("Sub", (a, b) => a - b));
        r.Add(new ArithmeticDefinition<MulOp>("Mul", (a, b) => a * b));
        r.Add(new ArithmeticDefinition<DivOp>("Div", DivideShapeValues));
        r.Add(new BinaryDefinition("Mod", ElementTypeSet.Numeric, Mod,
            shapeValue: (a, b) => b.IsKnown && b.Value > 0 ? a % b : null,
            validate: ctx => UsesFmod(ctx.Op, ctx.InputElementType(0))));
        r.Add(new PowDefinition());

        r.Add(new NumericUnaryDefinition<NegOp>("Neg", ElementTypeSet.SignedNumeric));
        r.Add(new NumericUnaryDefinition<AbsOp>("Abs"));
        r.Add(new NumericUnaryDefinition<SignOp>("Sign"));
    }

    public struct AddOp : INumericBinaryOperator { public static T Invoke<T>(T a, T b) where T : unmanaged, INumber<T> => a + b; }
    public struct SubOp : INumericBinaryOperator { public static T Invoke<T>(T a, T b) where T : unmanaged, INumber<T> => a - b; }
    public struct MulOp : INumericBinaryOperator { public static T Invoke<T>(T a, T b) where T : unmanaged, INumber<T> => a * b; }

    /// <summary>Integer division truncates toward zero; division by zero gives 0 for integers (instead of a crash).</summary>
    public struct DivOp : INumericBinaryOperator
    {
        public static T Invoke<T>(T a, T b) where T : unmanaged, INumber<T> =>
            T.IsZero(b) && !IsFloat<T>() ? T.Zero : a / b;
    }

    /// <summary>The remainder with the sign of the dividend (C fmod); integer x mod 0 gives 0, as numpy does.</summary>
    public struct TruncatedModOp : INumericBinaryOperator
    {
        public static T Invoke<T>(T a, T b) where T : unmanaged, INumber<T> =>
            T.IsZero(b) && !IsFloat<T>() ? T.Zero : a % b;
    }

    /// <summary>The remainder with the sign of the divisor (Python's %), for integers.</summary>
    public struct FlooredModOp : INumericBinaryOperator
    {
        public static T Invoke<T>(T a, T b) where T : unmanaged, INumber<T>
        {
            if (T.IsZero(b)) return T.Zero;
            var r = a % b;
            return !T.IsZero(r) && T.IsNegative(r) != T.IsNegative(b) ? r + b : r;
        }
    }

    public struct PowOp : IFloatBinaryOperator { public static T Invoke<T>(T a, T b) where T : unmanaged, IFloatingPointIeee754<T> => T.Pow(a, b); }

    /// <summary>Exact integer power by repeated squaring, wrapping like C; negative exponents truncate 1/a^-b toward zero.</summary>
    public struct IntegerPowOp : IIntegerBinaryOperator
    {
        public static T Invoke<T>(T a, T b) where T : unmanaged, IBinaryInteger<T>
        {
            if (T.IsNegative(b))
                return a == T.One ? T.One : a == -T.One ? (T.IsEvenInteger(b) ? T.One : a) : T.Zero;
            T result = T.One;
            while (!T.IsZero(b))
            {
                if (T.IsOddInteger(b)) result *= a;
                a *= a;
                b >>= 1;
            }
            return result;
        }
    }

    /// <summary>-x, wrapping for the most negative integer as C does.</summary>
    public struct NegOp : INumericUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, INumber<T> => -x; }

    /// <summary>|x|; clears the sign of -0.0; the most negative integer wraps to itself as in C.</summary>
    public struct AbsOp : INumericUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, INumber<T> => T.IsNegative(x) ? -x : x; }

    /// <summary>-1, 0 or 1; NaN stays NaN.</summary>
    public struct SignOp : INumericUnaryOperator
    {
        public static T Invoke<T>(T x) where T : unmanaged, INumber<T> =>
            x > T.Zero ? T.One : x < T.Zero ? -T.One : x;
    }

    private static bool IsFloat<T>() => typeof(T) == typeof(float) || typeof(T) == typeof(double) || typeof(T) == typeof(Half);

    /// <summary>ONNX Div truncates; for the sizes of shapes (never negative) floor division agrees.</summary>
    private static Dim? DivideShapeValues(Dim a, Dim b)
    {
        if (a.IsKnown && b.IsKnown) return b.Value == 0 ? null : a.Value / b.Value;
        return b.IsKnown && b.Value > 0 ? a / b : null;
    }

    /// <summary>Whether Mod takes the sign of the dividend (fmod=1, required for floats) rather than the divisor's.</summary>
    private static bool UsesFmod(Operation op, ElementType type) => op.GetInt("fmod", 0) switch
    {
        1 => true,
        0 when !type.IsFloat() => false,
        0 => throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: fmod must be 1 for float operands"),
        var other => throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: fmod must be 0 or 1, got {other}"),
    };

    private static TensorData Mod(Operation op, TensorData a, TensorData b) => UsesFmod(op, a.ElementType)
        ? Elementwise.Binary<TruncatedModOp>(a, b)
        : Elementwise.Binary<FlooredModOp>(a, b);

    /// <summary>Pow(X, Y): the result has X's type; Y may be any numeric type.</summary>
    private sealed class PowDefinition : OpDefinition
    {
        public override string OpType => "Pow";
        public override int MinInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            ElementTypeSet.Numeric.Check(ctx, 0);
            ElementTypeSet.Numeric.Check(ctx, 1);
            Infer.Broadcast(ctx, ctx.InputElementType(0), 0, 1);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var y = ctx.Tensor(1);
            if (x.ElementType == y.ElementType && x.ElementType.IsFloat())
                ctx.SetOutput(0, Elementwise.FloatBinary<PowOp>(x, y));
            else if (x.ElementType.IsInteger() && y.ElementType.IsInteger())
                ctx.SetOutput(0, Conversions.Convert(
                    Elementwise.IntegerBinary<IntegerPowOp>(Conversions.Convert(x, ElementType.Int64), Conversions.Convert(y, ElementType.Int64)),
                    x.ElementType));
            else
            {
                // Mixed types: in double, then to X's type (an integer X truncates, as a C cast does).
                var power = Elementwise.FloatBinary<PowOp>(Conversions.Convert(x, ElementType.Float64), Conversions.Convert(y, ElementType.Float64));
                ctx.SetOutput(0, Conversions.Convert(power, x.ElementType));
            }
        }
    }
}

/// <summary>A binary arithmetic operator on numeric tensors with broadcasting and shape-value propagation.</summary>
public sealed class ArithmeticDefinition<TOp>(string opType, Func<Dim, Dim, Dim?> shapeArithmetic) : OpDefinition
    where TOp : INumericBinaryOperator
{
    public override string OpType => opType;
    public override int MinInputs => 2;

    public override void InferTypes(InferenceContext ctx)
    {
        var et = Infer.SameElementType(ctx, 0, 1);
        ElementTypeSet.Numeric.Check(ctx, 0);
        Infer.Broadcast(ctx, et, 0, 1);
        ShapeValues.Combine(ctx, d => shapeArithmetic(d[0], d[1]), 0, 1);
    }

    public override void Evaluate(EvaluationContext ctx) =>
        ctx.SetOutput(0, Elementwise.Binary<TOp>(ctx.Tensor(0), ctx.Tensor(1)));
}

public sealed class NumericUnaryDefinition<TOp>(string opType, ElementTypeSet? accepts = null) : OpDefinition where TOp : INumericUnaryOperator
{
    public override string OpType => opType;

    public override void InferTypes(InferenceContext ctx)
    {
        (accepts ?? ElementTypeSet.Numeric).Check(ctx, 0);
        Infer.SameAsInput(ctx);
    }

    public override void Evaluate(EvaluationContext ctx) => ctx.SetOutput(0, Elementwise.Unary<TOp>(ctx.Tensor(0)));
}

public sealed class FloatUnaryDefinition<TOp>(string opType) : OpDefinition where TOp : IFloatUnaryOperator
{
    public override string OpType => opType;

    public override void InferTypes(InferenceContext ctx)
    {
        ElementTypeSet.Float.Check(ctx, 0);
        Infer.SameAsInput(ctx);
    }

    public override void Evaluate(EvaluationContext ctx) => ctx.SetOutput(0, Elementwise.FloatUnary<TOp>(ctx.Tensor(0)));
}
