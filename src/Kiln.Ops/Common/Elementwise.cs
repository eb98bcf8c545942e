using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>An elementwise operator on any numeric type: one small struct per operator (Add, Neg, ...).</summary>
public interface INumericUnaryOperator
{
    static abstract T Invoke<T>(T x) where T : unmanaged, INumber<T>;
}

/// <summary>An elementwise operator on IEEE float types (Exp, Sin, ...).</summary>
public interface IFloatUnaryOperator
{
    static abstract T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T>;
}

public interface INumericBinaryOperator
{
    static abstract T Invoke<T>(T a, T b) where T : unmanaged, INumber<T>;
}

public interface IFloatBinaryOperator
{
    static abstract T Invoke<T>(T a, T b) where T : unmanaged, IFloatingPointIeee754<T>;
}

public interface IIntegerBinaryOperator
{
    static abstract T Invoke<T>(T a, T b) where T : unmanaged, IBinaryInteger<T>;
}

/// <summary>A comparison producing bool.</summary>
public interface IComparisonOperator
{
    static abstract bool Invoke<T>(T a, T b) where T : unmanaged, INumber<T>;
}

/// <summary>
/// Generic drivers for elementwise operators: one loop per operator kind, instantiated per
/// element type through <see cref="Dispatch"/>. Binary drivers broadcast. bfloat16 and the
/// 8/4-bit float formats are computed in float32 and rounded back.
/// </summary>
public static class Elementwise
{
    public static TensorData Unary<TOp>(TensorData x) where TOp : INumericUnaryOperator
    {
        if (!Dispatch.IsNativeNumeric(x.ElementType))
            return Narrow(Unary<TOp>(Widen(x)), x.ElementType);
        return Dispatch.Numeric<NumericUnary<TOp>, TensorData>(x.ElementType, new(x));
    }

    public static TensorData FloatUnary<TOp>(TensorData x) where TOp : IFloatUnaryOperator
    {
        if (!x.ElementType.IsFloat())
            throw new KilnException(ErrorCode.TypeMismatch, $"operator needs a float tensor, got {x.ElementType.OnnxName()}");
        if (x.ElementType.IsSmallFloat() && x.ElementType != ElementType.Float16)
            return Narrow(FloatUnary<TOp>(Widen(x)), x.ElementType);
        return Dispatch.Float<FloatUnaryVisitor<TOp>, TensorData>(x.ElementType, new(x));
    }

    public static TensorData Binary<TOp>(TensorData a, TensorData b) where TOp : INumericBinaryOperator
    {
        CheckSameType(a, b);
        if (!Dispatch.IsNativeNumeric(a.ElementType))
            return Narrow(Binary<TOp>(Widen(a), Widen(b)), a.ElementType);
        return Dispatch.Numeric<NumericBinary<TOp>, TensorData>(a.ElementType, new(a, b));
    }

    public static TensorData FloatBinary<TOp>(TensorData a, TensorData b) where TOp : IFloatBinaryOperator
    {
        CheckSameType(a, b);
        if (a.ElementType.IsSmallFloat() && a.ElementType != ElementType.Float16)
            return Narrow(FloatBinary<TOp>(Widen(a), Widen(b)), a.ElementType);
        return Dispatch.Float<FloatBinaryVisitor<TOp>, TensorData>(a.ElementType, new(a, b));
    }

    public static TensorData IntegerBinary<TOp>(TensorData a, TensorData b) where TOp : IIntegerBinaryOperator
    {
        CheckSameType(a, b);
        return Dispatch.Integer<IntegerBinaryVisitor<TOp>, TensorData>(a.ElementType, new(a, b));
    }

    public static TensorData Compare<TOp>(TensorData a, TensorData b) where TOp : IComparisonOperator
    {
        CheckSameType(a, b);
        if (a.ElementType == ElementType.Bool)
            return Compare<TOp>(Conversions.Convert(a, ElementType.UInt8), Conversions.Convert(b, ElementType.UInt8));
        if (!Dispatch.IsNativeNumeric(a.ElementType))
            return Compare<TOp>(Widen(a), Widen(b));
        return Dispatch.Numeric<ComparisonVisitor<TOp>, TensorData>(a.ElementType, new(a, b));
    }

    /// <summary>
    /// Applies <paramref name="f"/> to each broadcast pair of elements of two tensors of any
    /// storage types, producing a tensor of <paramref name="resultType"/> (whose storage is TR).
    /// The general slow path for operators the typed drivers do not cover (strings, mixed types).
    /// </summary>
    public static TensorData Map<TA, TB, TR>(TensorData a, TensorData b, ElementType resultType, Func<TA, TB, TR> f)
    {
        var shape = Broadcasting.Shape(null, a.Shape, b.Shape);
        var result = TensorData.Zeros(resultType, shape);
        var dst = result.Data<TR>();
        var sa = a.Data<TA>();
        var sb = b.Data<TB>();
        var ia = Broadcasting.IndexMap(a.Shape, shape);
        var ib = Broadcasting.IndexMap(b.Shape, shape);
        for (int i = 0; i < dst.Length; i++) dst[i] = f(sa[ia[i]], sb[ib[i]]);
        return result;
    }

    public static TensorData Map<TA, TR>(TensorData a, ElementType resultType, Func<TA, TR> f)
    {
        var result = TensorData.Zeros(resultType, a.Shape);
        var dst = result.Data<TR>();
        var src = a.Data<TA>();
        for (int i = 0; i < dst.Length; i++) dst[i] = f(src[i]);
        return result;
    }

    private static void CheckSameType(TensorData a, TensorData b)
    {
        if (a.ElementType != b.ElementType)
            throw new KilnException(ErrorCode.TypeMismatch, $"operand element types differ: {a.ElementType.OnnxName()} and {b.ElementType.OnnxName()}");
    }

    private static TensorData Widen(TensorData x) => Conversions.ToFloat32(x);
    private static TensorData Narrow(TensorData x, ElementType t) => x.ElementType == ElementType.Bool ? x : Conversions.Convert(x, t);

    /// <summary>
    /// Runs <paramref name="f"/> over two broadcast operands into a new tensor of their broadcast shape.
    /// Fast paths for equal shapes and scalar operands; an index odometer otherwise.
    /// </summary>
    public static void BroadcastLoop<TA, TB, TR>(TensorData a, TensorData b, TensorData result, Func<TA, TB, TR> f)
    {
        var sa = a.Data<TA>();
        var sb = b.Data<TB>();
        var dst = result.Data<TR>();
        if (a.ElementCount == dst.Length && b.ElementCount == dst.Length)
        {
            for (int i = 0; i < dst.Length; i++) dst[i] = f(sa[i], sb[i]);
            return;
        }
        if (b.ElementCount == 1 && a.ElementCount == dst.Length)
        {
            var y = sb[0];
            for (int i = 0; i < dst.Length; i++) dst[i] = f(sa[i], y);
            return;
        }
        if (a.ElementCount == 1 && b.ElementCount == dst.Length)
        {
            var x = sa[0];
            for (int i = 0; i < dst.Length; i++) dst[i] = f(x, sb[i]);
            return;
        }
        var ia = Broadcasting.IndexMap(a.Shape, result.Shape);
        var ib = Broadcasting.IndexMap(b.Shape, result.Shape);
        for (int i = 0; i < dst.Length; i++) dst[i] = f(sa[ia[i]], sb[ib[i]]);
    }

    private readonly struct NumericUnary<TOp>(TensorData x) : INumericVisitor<TensorData> where TOp : INumericUnaryOperator
    {
        public TensorData Visit<T>() where T : unmanaged, INumber<T>
        {
            var result = TensorData.Zeros(x.ElementType, x.Shape);
            var src = x.Data<T>();
            var dst = result.Data<T>();
            for (int i = 0; i < dst.Length; i++) dst[i] = TOp.Invoke(src[i]);
            return result;
        }
    }

    private readonly struct FloatUnaryVisitor<TOp>(TensorData x) : IFloatVisitor<TensorData> where TOp : IFloatUnaryOperator
    {
        public TensorData Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var result = TensorData.Zeros(x.ElementType, x.Shape);
            var src = x.Data<T>();
            var dst = result.Data<T>();
            for (int i = 0; i < dst.Length; i++) dst[i] = TOp.Invoke(src[i]);
            return result;
        }
    }

    private readonly struct NumericBinary<TOp>(TensorData a, TensorData b) : INumericVisitor<TensorData> where TOp : INumericBinaryOperator
    {
        public TensorData Visit<T>() where T : unmanaged, INumber<T>
        {
            var result = TensorData.Zeros(a.ElementType, Broadcasting.Shape(null, a.Shape, b.Shape));
            BroadcastLoop<T, T, T>(a, b, result, static (x, y) => TOp.Invoke(x, y));
            return result;
        }
    }

    private readonly struct FloatBinaryVisitor<TOp>(TensorData a, TensorData b) : IFloatVisitor<TensorData> where TOp : IFloatBinaryOperator
    {
        public TensorData Visit<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var result = TensorData.Zeros(a.ElementType, Broadcasting.Shape(null, a.Shape, b.Shape));
            BroadcastLoop<T, T, T>(a, b, result, static (x, y) => TOp.Invoke(x, y));
            return result;
        }
    }

    private readonly struct IntegerBinaryVisitor<TOp>(TensorData a, TensorData b) : IIntegerVisitor<TensorData> where TOp : IIntegerBinaryOperator
    {
        public TensorData Visit<T>() where T : unmanaged, IBinaryInteger<T>
        {
            var result = TensorData.Zeros(a.ElementType, Broadcasting.Shape(null, a.Shape, b.Shape));
            BroadcastLoop<T, T, T>(a, b, result, static (x, y) => TOp.Invoke(x, y));
            return result;
        }
    }

    private readonly struct ComparisonVisitor<TOp>(TensorData a, TensorData b) : INumericVisitor<TensorData> where TOp : IComparisonOperator
    {
        public TensorData Visit<T>() where T : unmanaged, INumber<T>
        {
            var result = TensorData.Zeros(ElementType.Bool, Broadcasting.Shape(null, a.Shape, b.Shape));
            BroadcastLoop<T, T, bool>(a, b, result, static (x, y) => TOp.Invoke(x, y));
            return result;
        }
    }
}
