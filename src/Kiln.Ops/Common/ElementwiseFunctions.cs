using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// An elementwise function with parameters (Shrink's lambda, Clip's bounds): an instance struct,
/// so the parameters travel with it while the loop stays generic and inlined.
/// </summary>
public interface INumericFunction
{
    T Invoke<T>(T x) where T : unmanaged, INumber<T>;
}

/// <summary>A float function with parameters (LeakyRelu's alpha, Gelu's approximation).</summary>
public interface IFloatFunction
{
    T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T>;
}

/// <summary>A test of float elements producing bool (IsNaN, IsInf).</summary>
public interface IFloatPredicate
{
    bool Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T>;
}

public interface IIntegerUnaryOperator
{
    static abstract T Invoke<T>(T x) where T : unmanaged, IBinaryInteger<T>;
}

/// <summary>
/// Drivers for the elementwise operators <see cref="Elementwise"/> does not cover: functions
/// with parameters, float predicates, integer unary operators. Float functions compute float16,
/// bfloat16 and the 8/4-bit formats in float32 and round once at the end, as numpy does.
/// </summary>
public static class ElementwiseFunctions
{
    public static TensorData Apply<TF>(TensorData x, TF f) where TF : struct, INumericFunction
    {
        if (!Dispatch.IsNativeNumeric(x.ElementType))
            return Conversions.Convert(Apply(Conversions.ToFloat32(x), f), x.ElementType);
        return Dispatch.Numeric<NumericVisitor<TF>, TensorData>(x.ElementType, new(x, f));
    }

    public static TensorData ApplyFloat<TF>(TensorData x, TF f) where TF : struct, IFloatFunction
    {
        RequireFloat(x);
        if (x.ElementType.IsSmallFloat())
            return Conversions.Convert(ApplyFloat(Conversions.ToFloat32(x), f), x.ElementType);
        return Dispatch.Float<FloatVisitor<TF>, TensorData>(x.ElementType, new(x, f));
    }

    /// <summary>A bool tensor of the predicate's value on each element.</summary>
    public static TensorData Test<TP>(TensorData x, TP p) where TP : struct, IFloatPredicate
    {
        RequireFloat(x);
        if (x.ElementType.IsSmallFloat()) return Test(Conversions.ToFloat32(x), p);
        return Dispatch.Float<PredicateVisitor<TP>, TensorData>(x.ElementType, new(x, p));
    }

    public static TensorData IntegerUnary<TOp>(TensorData x) where TOp : IIntegerUnaryOperator =>
        Dispatch.Integer<IntegerUnaryVisitor<TOp>, TensorData>(x.ElementType, new(x));

    private static void RequireFloat(TensorData x)
    {
        if (!x.ElementType.IsFloat())
            throw new KilnException(ErrorCode.TypeMismatch, $"operator needs a float tensor, got {x.ElementType.OnnxName()}");
    }

    private readonly struct NumericVisitor<TF>(TensorData x, TF f) : INumericVisitor<TensorData> where TF : struct, INumericFunction
    {
        public TensorData Visit<T>() where T : unmanaged, INumber<T>
        {
            var result = TensorData.Zeros(x.ElementType, x.Shape);
            var src = x.Data<T>();
            var dst = result.Data<T>();
            for (int i = 0; i < dst.Length; i++) dst[i] = f.Invoke(src[i]);
            return result;
        }
    }

    private readonly struct FloatVisitor<TF>(TensorData x, TF f) : IFloatVisitor<TensorData> where TF : struct, IFloatFunction
    {
        public TensorData Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var result = TensorData.Zeros(x.ElementType, x.Shape);
            var src = x.Data<T>();
            var dst = result.Data<T>();
            for (int i = 0; i < dst.Length; i++) dst[i] = f.Invoke(src[i]);
            return result;
        }
    }

    private readonly struct PredicateVisitor<TP>(TensorData x, TP p) : IFloatVisitor<TensorData> where TP : struct, IFloatPredicate
    {
        public TensorData Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var result = TensorData.Zeros(ElementType.Bool, x.Shape);
            var src = x.Data<T>();
            var dst = result.Data<bool>();
            for (int i = 0; i < dst.Length; i++) dst[i] = p.Invoke(src[i]);
            return result;
        }
    }

    private readonly struct IntegerUnaryVisitor<TOp>(TensorData x) : IIntegerVisitor<TensorData> where TOp : IIntegerUnaryOperator
    {
        public TensorData Visit<T>() where T : unmanaged, IBinaryInteger<T>
        {
            var result = TensorData.Zeros(x.ElementType, x.Shape);
            var src = x.Data<T>();
            var dst = result.Data<T>();
            for (int i = 0; i < dst.Length; i++) dst[i] = TOp.Invoke(src[i]);
            return result;
        }
    }
}
