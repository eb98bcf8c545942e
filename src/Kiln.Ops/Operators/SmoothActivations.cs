using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Smooth activations: Sigmoid, Softplus, Softsign, Swish, Mish and Gelu. They are computed in
/// double, so float results are correctly rounded and saturate cleanly at the extremes.
/// </summary>
[OpFamily]
public static class SmoothActivations
{
    public static void Register(OpRegistry r)
    {
        r.Add(new FloatUnaryDefinition<SigmoidOp>("Sigmoid"));
        r.Add(new FloatUnaryDefinition<SoftplusOp>("Softplus"));
        r.Add(new FloatUnaryDefinition<SoftsignOp>("Softsign"));
        r.Add(new FloatUnaryDefinition<MishOp>("Mish"));
        r.Add(new UnaryDefinition("Swish", ElementTypeSet.Float, (op, x) => ElementwiseFunctions.ApplyFloat(x, new Swish(op.GetFloat("alpha", 1f)))));
        r.Add(new UnaryDefinition("Gelu", ElementTypeSet.Float, (op, x) => ElementwiseFunctions.ApplyFloat(x, new Gelu(UsesTanh(op))),
            validate: ctx => UsesTanh(ctx.Op)));
    }

    /// <summary>1 / (1 + e^-x), written so that neither branch overflows.</summary>
    public static double Logistic(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));

    /// <summary>log(1 + e^x), written so that large x does not overflow.</summary>
    public static double Softplus(double x) => x > 0 ? x + Math.Log(1 + Math.Exp(-x)) : Math.Log(1 + Math.Exp(x));

    public struct SigmoidOp : IFloatUnaryOperator
    {
        public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.CreateTruncating(Logistic(double.CreateTruncating(x)));
    }

    public struct SoftplusOp : IFloatUnaryOperator
    {
        public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.CreateTruncating(Softplus(double.CreateTruncating(x)));
    }

    /// <summary>x / (1 + |x|).</summary>
    public struct SoftsignOp : IFloatUnaryOperator
    {
        public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T>
        {
            double d = double.CreateTruncating(x);
            return T.CreateTruncating(d / (1 + Math.Abs(d)));
        }
    }

    /// <summary>x * tanh(softplus(x)).</summary>
    public struct MishOp : IFloatUnaryOperator
    {
        public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T>
        {
            double d = double.CreateTruncating(x);
            return T.CreateTruncating(d * Math.Tanh(Softplus(d)));
        }
    }

    /// <summary>x * sigmoid(alpha * x).</summary>
    public readonly struct Swish(float alpha) : IFloatFunction
    {
        public T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T>
        {
            double d = double.CreateTruncating(x);
            return T.CreateTruncating(d * Logistic(alpha * d));
        }
    }

    /// <summary>x * Phi(x) with the normal distribution's Phi exact (through erf) or in the tanh approximation.</summary>
    public readonly struct Gelu(bool tanhApproximation) : IFloatFunction
    {
        public T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T>
        {
            double d = double.CreateTruncating(x);
            double phi = tanhApproximation
                ? 0.5 * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (d + 0.044715 * d * d * d)))
                : 0.5 * (1 + FloatMath.Erf(d / Math.Sqrt(2)));
            return T.CreateTruncating(d * phi);
        }
    }

    private static bool UsesTanh(Operation op) => op.GetString("approximate", "none") switch
    {
        "none" => false,
        "tanh" => true,
        var other => throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: approximate must be 'none' or 'tanh', got '{other}'"),
    };
}
