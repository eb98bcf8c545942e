using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Unary float math: exponentials, logarithms, roots, trigonometric and hyperbolic functions,
/// rounding, Erf, and the float tests IsNaN and IsInf.
/// </summary>
[OpFamily]
public static class FloatMath
{
    public static void Register(OpRegistry r)
    {
        r.Add(new FloatUnaryDefinition<ExpOp>("Exp"));
        r.Add(new FloatUnaryDefinition<LogOp>("Log"));
        r.Add(new FloatUnaryDefinition<SqrtOp>("Sqrt"));
        r.Add(new FloatUnaryDefinition<ReciprocalOp>("Reciprocal"));
        r.Add(new FloatUnaryDefinition<ErfOp>("Erf"));

        r.Add(new FloatUnaryDefinition<SinOp>("Sin"));
        r.Add(new FloatUnaryDefinition<CosOp>("Cos"));
        r.Add(new FloatUnaryDefinition<TanOp>("Tan"));
        r.Add(new FloatUnaryDefinition<AsinOp>("Asin"));
        r.Add(new FloatUnaryDefinition<AcosOp>("Acos"));
        r.Add(new FloatUnaryDefinition<AtanOp>("Atan"));
        r.Add(new FloatUnaryDefinition<SinhOp>("Sinh"));
        r.Add(new FloatUnaryDefinition<CoshOp>("Cosh"));
        r.Add(new FloatUnaryDefinition<TanhOp>("Tanh"));
        r.Add(new FloatUnaryDefinition<AsinhOp>("Asinh"));
        r.Add(new FloatUnaryDefinition<AcoshOp>("Acosh"));
        r.Add(new FloatUnaryDefinition<AtanhOp>("Atanh"));

        r.Add(new FloatUnaryDefinition<CeilOp>("Ceil"));
        r.Add(new FloatUnaryDefinition<FloorOp>("Floor"));
        r.Add(new FloatUnaryDefinition<RoundOp>("Round"));

        r.Add(new UnaryDefinition("IsNaN", ElementTypeSet.Float, (_, x) => ElementwiseFunctions.Test(x, new IsNaNTest()), ElementType.Bool));
        r.Add(new UnaryDefinition("IsInf", ElementTypeSet.Float, (op, x) => ElementwiseFunctions.Test(x,
            new IsInfTest(op.GetInt("detect_negative", 1) != 0, op.GetInt("detect_positive", 1) != 0)), ElementType.Bool));
    }

    public struct ExpOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Exp(x); }
    public struct LogOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Log(x); }
    public struct SqrtOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Sqrt(x); }
    public struct ReciprocalOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.One / x; }
    public struct ErfOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.CreateTruncating(Erf(double.CreateTruncating(x))); }

    public struct SinOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Sin(x); }
    public struct CosOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Cos(x); }
    public struct TanOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Tan(x); }
    public struct AsinOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Asin(x); }
    public struct AcosOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Acos(x); }
    public struct AtanOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Atan(x); }
    public struct SinhOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Sinh(x); }
    public struct CoshOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Cosh(x); }
    public struct TanhOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Tanh(x); }
    public struct AsinhOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Asinh(x); }
    public struct AcoshOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Acosh(x); }
    public struct AtanhOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Atanh(x); }

    public struct CeilOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Ceiling(x); }
    public struct FloorOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Floor(x); }

    /// <summary>Rounds halves to even (2.5 to 2), as ONNX specifies.</summary>
    public struct RoundOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Round(x, MidpointRounding.ToEven); }

    public readonly struct IsNaNTest : IFloatPredicate { public bool Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.IsNaN(x); }

    public readonly struct IsInfTest(bool negative, bool positive) : IFloatPredicate
    {
        public bool Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> =>
            (negative && T.IsNegativeInfinity(x)) || (positive && T.IsPositiveInfinity(x));
    }

    /// <summary>
    /// The error function, to double precision: its Taylor series below 3 (where the terms stay
    /// small enough not to cancel badly), and 1 - erfc from erfc's continued fraction above.
    /// </summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        double a = Math.Abs(x), result;
        if (a < 3)
        {
            // erf(a) = 2/sqrt(pi) * sum over n of (-1)^n a^(2n+1) / (n! (2n+1))
            double power = a, sum = a;
            for (int n = 1; n < 200; n++)
            {
                power *= -a * a / n;
                double term = power / (2 * n + 1);
                sum += term;
                if (Math.Abs(term) < 1e-17 * Math.Abs(sum)) break;
            }
            result = sum * 2 / Math.Sqrt(Math.PI);
        }
        else
        {
            // erfc(a) = exp(-a^2)/sqrt(pi) / (a + (1/2)/(a + (2/2)/(a + (3/2)/(a + ...)))), evaluated from the tail.
            double f = a;
            for (int k = 60; k >= 1; k--) f = a + k / 2.0 / f;
            result = 1 - Math.Exp(-a * a) / Math.Sqrt(Math.PI) / f;
        }
        return x < 0 ? -result : result;
    }
}
