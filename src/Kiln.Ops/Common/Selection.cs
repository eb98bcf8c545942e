using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>A computation generic over the storage type of a tensor of any element type (bool and string included).</summary>
public interface IStorageVisitor<out TResult>
{
    TResult Visit<T>();
}

/// <summary>
/// Elementwise selection between two tensors of any element type (the Where operator), with
/// three-way broadcasting, and the storage-type dispatch it needs.
/// </summary>
public static class Selection
{
    /// <summary>Calls the visitor with the storage type of <paramref name="t"/> (see <see cref="TensorData.ClrType"/>).</summary>
    public static TResult ByStorage<TVisitor, TResult>(ElementType t, TVisitor v) where TVisitor : IStorageVisitor<TResult>
    {
        var clr = TensorData.ClrType(t);
        if (clr == typeof(float)) return v.Visit<float>();
        if (clr == typeof(double)) return v.Visit<double>();
        if (clr == typeof(Half)) return v.Visit<Half>();
        if (clr == typeof(BFloat16)) return v.Visit<BFloat16>();
        if (clr == typeof(sbyte)) return v.Visit<sbyte>();
        if (clr == typeof(byte)) return v.Visit<byte>();
        if (clr == typeof(short)) return v.Visit<short>();
        if (clr == typeof(ushort)) return v.Visit<ushort>();
        if (clr == typeof(int)) return v.Visit<int>();
        if (clr == typeof(uint)) return v.Visit<uint>();
        if (clr == typeof(long)) return v.Visit<long>();
        if (clr == typeof(ulong)) return v.Visit<ulong>();
        if (clr == typeof(bool)) return v.Visit<bool>();
        if (clr == typeof(string)) return v.Visit<string>();
        throw new KilnException(ErrorCode.Unsupported, $"element type {t.OnnxName()} is not supported here");
    }

    /// <summary>condition ? x : y elementwise; x and y share an element type; all three broadcast.</summary>
    public static TensorData Where(TensorData condition, TensorData x, TensorData y)
    {
        if (condition.ElementType != ElementType.Bool)
            throw new KilnException(ErrorCode.TypeMismatch, $"the condition must be bool, got {condition.ElementType.OnnxName()}");
        if (x.ElementType != y.ElementType)
            throw new KilnException(ErrorCode.TypeMismatch, $"operand element types differ: {x.ElementType.OnnxName()} and {y.ElementType.OnnxName()}");
        if (x.ElementType.IsComplex())
            throw new KilnException(ErrorCode.Unsupported, "selection between complex tensors is not supported");
        return ByStorage<WhereVisitor, TensorData>(x.ElementType, new(condition, x, y));
    }

    private readonly struct WhereVisitor(TensorData condition, TensorData x, TensorData y) : IStorageVisitor<TensorData>
    {
        public TensorData Visit<T>()
        {
            var shape = Broadcasting.Shape(null, condition.Shape, x.Shape, y.Shape);
            var result = TensorData.Zeros(x.ElementType, shape);
            var c = condition.Data<bool>();
            var a = x.Data<T>();
            var b = y.Data<T>();
            var dst = result.Data<T>();
            if (c.Length == dst.Length && a.Length == dst.Length && b.Length == dst.Length)
            {
                for (int i = 0; i < dst.Length; i++) dst[i] = c[i] ? a[i] : b[i];
                return result;
            }
            var ic = Broadcasting.IndexMap(condition.Shape, shape);
            var ia = Broadcasting.IndexMap(x.Shape, shape);
            var ib = Broadcasting.IndexMap(y.Shape, shape);
            for (int i = 0; i < dst.Length; i++) dst[i] = c[ic[i]] ? a[ia[i]] : b[ib[i]];
            return result;
        }
    }
}
