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
    /// The error function, to double precision. Near a grid point c (spacing 1/8) it is the Taylor
    /// series erf(c + h) = erf(c) + 2/sqrt(pi) e^(-c^2) sum over n of (-1)^n H_n(c) h^(n+1) / (n+1)!,
    /// H_n being the Hermite polynomials (the derivatives of e^(-x^2)); with |h| &lt;= 1/16 twelve
    /// terms reach double precision. erf(c) and the factor come from a table built once.
    /// Beyond 6, erf is 1 to double precision.
    /// </summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        double a = Math.Abs(x);
        if (a >= ErfLimit) return Math.Sign(x);
        int k = (int)Math.Round(a / ErfStep);
        double c = k * ErfStep, h = a - c;
        double hermitePrevious = 0, hermite = 1, power = h, sum = 0;
        for (int n = 0; n < 12; n++)
        {
            sum += (n % 2 == 0 ? hermite : -hermite) * power;
            (hermitePrevious, hermite) = (hermite, 2 * c * hermite - 2 * n * hermitePrevious);
            power *= h / (n + 2);
        }
        double result = ErfAtGrid[k] + ErfSlopeAtGrid[k] * sum;
        return x < 0 ? -result : result;
    }

    private const double ErfStep = 1.0 / 8, ErfLimit = 6;

    private static readonly double[] ErfAtGrid = Enumerable.Range(0, (int)(ErfLimit / ErfStep) + 1).Select(k => ErfSeries(k * ErfStep)).ToArray();

    private static readonly double[] ErfSlopeAtGrid = Enumerable.Range(0, ErfAtGrid.Length)
        .Select(k => 2 / Math.Sqrt(Math.PI) * Math.Exp(-(k * ErfStep) * (k * ErfStep))).ToArray();

    /// <summary>
    /// erf(x) = 2/sqrt(pi) e^(-x^2) sum over n of 2^n x^(2n+1) / (1*3*...*(2n+1)) for x &gt;= 0: a series of
    /// positive terms, so nothing cancels; slow (hundreds of terms near 6), used only for the table.
    /// </summary>
    private static double ErfSeries(double x)
    {
        double term = x, sum = x;
        for (int n = 1; term > 1e-17 * sum; n++)
        {
            term *= 2 * x * x / (2 * n + 1);
            sum += term;
        }
        return 2 / Math.Sqrt(Math.PI) * Math.Exp(-x * x) * sum;
    }
}
