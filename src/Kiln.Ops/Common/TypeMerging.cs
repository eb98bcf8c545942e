using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// Joins of IR types, for values that may come from several places: the outputs of If branches,
/// loop-carried values whose shape changes across iterations, the items of a sequence.
/// </summary>
public static class TypeMerging
{
    /// <summary>
    /// The most specific type admitting values of both types: equal sizes stay, differing sizes
    /// become unknown, differing ranks unranked. An optional admits plain values of its element
    /// type. Null when the kinds or element types differ.
    /// </summary>
    public static IrType? Merge(IrType a, IrType b)
    {
        switch (a, b)
        {
            case (TensorType x, TensorType y):
                var et = x.ElementType == ElementType.Undefined ? y.ElementType : x.ElementType;
                if (y.ElementType != ElementType.Undefined && y.ElementType != et) return null;
                return new TensorType(et, MergeShapes(x.Shape, y.Shape));
            case (SequenceType x, SequenceType y):
                return Merge(x.ElementType, y.ElementType) is { } se ? new SequenceType(se) : null;
            case (OptionalType x, OptionalType y):
                return Merge(x.ElementType, y.ElementType) is { } oe ? new OptionalType(oe) : null;
            case (OptionalType x, _):
                return Merge(x.ElementType, b) is { } ae ? new OptionalType(ae) : null;
            case (_, OptionalType y):
                return Merge(a, y.ElementType) is { } be ? new OptionalType(be) : null;
            default:
                return null;
        }
    }

    private static Shape MergeShapes(Shape a, Shape b)
    {
        if (!a.IsRanked || !b.IsRanked || a.Rank != b.Rank) return Shape.Unranked;
        return new Shape(a.Dims.Zip(b.Dims, (x, y) => x == y ? x : Dim.Unknown()));
    }

    /// <summary>Whether every value of type <paramref name="specific"/> is a value of type <paramref name="general"/>.</summary>
    public static bool Admits(IrType general, IrType specific)
    {
        switch (general, specific)
        {
            case (TensorType g, TensorType s):
                if (g.ElementType != ElementType.Undefined && g.ElementType != s.ElementType) return false;
                if (!g.Shape.IsRanked) return true;
                if (!s.Shape.IsRanked || s.Shape.Rank != g.Shape.Rank) return false;
                return g.Shape.Dims.Zip(s.Shape.Dims).All(p => p.First.IsUnknown || p.First == p.Second);
            case (SequenceType g, SequenceType s):
                return Admits(g.ElementType, s.ElementType);
            case (OptionalType g, OptionalType s):
                return Admits(g.ElementType, s.ElementType);
            case (OptionalType g, _):
                return Admits(g.ElementType, specific);
            default:
                return false;
        }
    }
}
