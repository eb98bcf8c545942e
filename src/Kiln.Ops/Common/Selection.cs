using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// Elementwise selection between two tensors of any element type (the Where operator), with
/// three-way broadcasting, and the storage-type dispatch it needs.
/// </summary>
public static class Selection
{
    /// <summary>condition ? x : y elementwise; x and y share an element type; all three broadcast.</summary>
    public static TensorData Where(TensorData condition, TensorData x, TensorData y)
    {
        if (condition.ElementType != ElementType.Bool)
            throw new KilnException(ErrorCode.TypeMismatch, $"the condition must be bool, got {condition.ElementType.OnnxName()}");
        if (x.ElementType != y.ElementType)
            throw new KilnException(ErrorCode.TypeMismatch, $"operand element types differ: {x.ElementType.OnnxName()} and {y.ElementType.OnnxName()}");
        if (x.ElementType.IsComplex())
            throw new KilnException(ErrorCode.Unsupported, "selection between complex tensors is not supported");
        return Dispatch.Storage<WhereVisitor, TensorData>(x.ElementType, new(condition, x, y));
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
