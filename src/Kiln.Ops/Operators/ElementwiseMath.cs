using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Arithmetic elementwise operators (Add, Sub, Mul, Div, Neg, Abs, Relu, ...) and float math
/// (Exp, Log, Sqrt, Sigmoid, Tanh, ...). Each operator is a struct with a generic Invoke, driven
/// by <see cref="Elementwise"/>. Add, Sub, Mul and Div also propagate symbolic shape values, so
/// shape arithmetic in a model (H*2, N/4) keeps precise shapes.
/// </summary>
[OpFamily]
public static class ElementwiseMath
{
    public static void Register(OpRegistry r)
    {
        r.Add(new ArithmeticDefinition<AddOp>("Add", (a, b) => a + b));
        r.Add(new ArithmeticDefinition<SubOp>("Sub", (a, b) => a - b));
        r.Add(new ArithmeticDefinition<MulOp>("Mul", (a, b) => a * b));
        r.Add(new ArithmeticDefinition<DivOp>("Div", (a, b) => b.IsKnown && b.Value != 0 ? a / b : null));

        r.Add(new NumericUnaryDefinition<NegOp>("Neg"));
        r.Add(new NumericUnaryDefinition<AbsOp>("Abs"));
        r.Add(new NumericUnaryDefinition<ReluOp>("Relu"));

        r.Add(new FloatUnaryDefinition<ExpOp>("Exp"));
        r.Add(new FloatUnaryDefinition<LogOp>("Log"));
        r.Add(new FloatUnaryDefinition<SqrtOp>("Sqrt"));
        r.Add(new FloatUnaryDefinition<SigmoidOp>("Sigmoid"));
        r.Add(new FloatUnaryDefinition<TanhOp>("Tanh"));
    }

    public struct AddOp : INumericBinaryOperator { public static T Invoke<T>(T a, T b) where T : unmanaged, INumber<T> => a + b; }
    public struct SubOp : INumericBinaryOperator { public static T Invoke<T>(T a, T b) where T : unmanaged, INumber<T> => a - b; }
    public struct MulOp : INumericBinaryOperator { public static T Invoke<T>(T a, T b) where T : unmanaged, INumber<T> => a * b; }

    /// <summary>Integer division truncates toward zero; division by zero gives 0 for integers (instead of a crash).</summary>
    public struct DivOp : INumericBinaryOperator
    {
        public static T Invoke<T>(T a, T b) where T : unmanaged, INumber<T> =>
            T.IsZero(b) && !(typeof(T) == typeof(float) || typeof(T) == typeof(double) || typeof(T) == typeof(Half)) ? T.Zero : a / b;
    }

    public struct NegOp : INumericUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, INumber<T> => T.Zero - x; }
    public struct AbsOp : INumericUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, INumber<T> => T.Abs(x); }

    /// <summary>max(x, 0); NaN stays NaN.</summary>
    public struct ReluOp : INumericUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, INumber<T> => x < T.Zero ? T.Zero : x; }

    public struct ExpOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Exp(x); }
    public struct LogOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Log(x); }
    public struct SqrtOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Sqrt(x); }
    public struct TanhOp : IFloatUnaryOperator { public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.Tanh(x); }

    /// <summary>1 / (1 + e^-x), computed in double so float results are correctly rounded and saturate cleanly.</summary>
    public struct SigmoidOp : IFloatUnaryOperator
    {
        public static T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T>
        {
            double d = double.CreateChecked(x);
            return T.CreateChecked(d >= 0 ? 1 / (1 + Math.Exp(-d)) : Math.Exp(d) / (1 + Math.Exp(d)));
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
        Infer.ElementTypeIn(ctx, 0, t => t.IsNumeric(), "numeric");
        Infer.Broadcast(ctx, et, 0, 1);
        if (ctx.InputShapeValue(0) is { } a && ctx.InputShapeValue(1) is { } b && (a.Length == b.Length || a.Length == 1 || b.Length == 1))
        {
            int n = Math.Max(a.Length, b.Length);
            var values = new Dim[n];
            for (int i = 0; i < n; i++)
            {
                if (shapeArithmetic(a[a.Length == 1 ? 0 : i], b[b.Length == 1 ? 0 : i]) is not { } d) return;
                values[i] = d;
            }
            ctx.SetOutputShapeValue(0, values);
        }
    }

    public override void Evaluate(EvaluationContext ctx) =>
        ctx.SetOutput(0, Elementwise.Binary<TOp>(ctx.Tensor(0), ctx.Tensor(1)));
}

public sealed class NumericUnaryDefinition<TOp>(string opType) : OpDefinition where TOp : INumericUnaryOperator
{
    public override string OpType => opType;

    public override void InferTypes(InferenceContext ctx)
    {
        Infer.ElementTypeIn(ctx, 0, t => t.IsNumeric(), "numeric");
        Infer.SameAsInput(ctx);
    }

    public override void Evaluate(EvaluationContext ctx) => ctx.SetOutput(0, Elementwise.Unary<TOp>(ctx.Tensor(0)));
}

public sealed class FloatUnaryDefinition<TOp>(string opType) : OpDefinition where TOp : IFloatUnaryOperator
{
    public override string OpType => opType;

    public override void InferTypes(InferenceContext ctx)
    {
        Infer.ElementTypeIn(ctx, 0, t => t.IsFloat(), "a float type");
        Infer.SameAsInput(ctx);
    }

    public override void Evaluate(EvaluationContext ctx) => ctx.SetOutput(0, Elementwise.FloatUnary<TOp>(ctx.Tensor(0)));
}
