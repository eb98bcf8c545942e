using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// Element-type-agnostic copies of blocks along one axis: slicing a range out of a tensor and
/// concatenating or stacking tensors. Row-major data along an axis is a run of contiguous blocks
/// (one per index of the outer dimensions), so each is a loop of <see cref="Array.Copy(Array, long, Array, long, long)"/>,
/// which moves elements of every storage type, strings included.
/// </summary>
public static class AxisBlocks
{
    /// <summary>Elements before <paramref name="axis"/> (outer) and after it (inner).</summary>
    private static (long Outer, long Inner) Split(long[] shape, int axis)
    {
        long outer = 1, inner = 1;
        for (int d = 0; d < axis; d++) outer *= shape[d];
        for (int d = axis + 1; d < shape.Length; d++) inner *= shape[d];
        return (outer, inner);
    }

    /// <summary>Indices [start, start + length) of <paramref name="axis"/>; the caller checks the range.</summary>
    public static TensorData Slice(TensorData t, int axis, long start, long length)
    {
        var shape = (long[])t.Shape.Clone();
        shape[axis] = length;
        var result = TensorData.Zeros(t.ElementType, shape);
        var (outer, inner) = Split(t.Shape, axis);
        int width = ComplexWidth(t.ElementType);
        long srcBlock = t.Shape[axis] * inner * width, dstBlock = length * inner * width;
        for (long o = 0; o < outer; o++)
            Array.Copy(t.Storage, o * srcBlock + start * inner * width, result.Storage, o * dstBlock, dstBlock);
        return result;
    }

    /// <summary>Index <paramref name="index"/> of <paramref name="axis"/>, with that axis removed.</summary>
    public static TensorData Take(TensorData t, int axis, long index)
    {
        var slab = Slice(t, axis, index, 1);
        return slab.Reshape([.. t.Shape[..axis], .. t.Shape[(axis + 1)..]]);
    }

    /// <summary>
    /// Concatenates tensors of one element type whose shapes differ only along <paramref name="axis"/>.
    /// Throws a KilnException through <paramref name="error"/> when they do not fit.
    /// </summary>
    public static TensorData Concat(IReadOnlyList<TensorData> items, int axis, Func<string, KilnException> error)
    {
        var first = items[0];
        long total = 0;
        foreach (var t in items)
        {
            if (t.ElementType != first.ElementType)
                throw error($"cannot join {first.ElementType.OnnxName()} and {t.ElementType.OnnxName()} tensors");
            if (t.Rank != first.Rank || Enumerable.Range(0, t.Rank).Any(d => d != axis && t.Shape[d] != first.Shape[d]))
                throw error($"cannot join shapes {TensorData.FormatShape(first.Shape)} and {TensorData.FormatShape(t.Shape)} along axis {axis}");
            total += t.Shape[axis];
        }
        var shape = (long[])first.Shape.Clone();
        shape[axis] = total;
        var result = TensorData.Zeros(first.ElementType, shape);
        var (outer, inner) = Split(shape, axis);
        int width = ComplexWidth(first.ElementType);
        long dstBlock = total * inner * width, offset = 0;
        foreach (var t in items)
        {
            long block = t.Shape[axis] * inner * width;
            for (long o = 0; o < outer; o++)
                Array.Copy(t.Storage, o * block, result.Storage, o * dstBlock + offset, block);
            offset += block;
        }
        return result;
    }

    /// <summary>Stacks tensors of one shape along a new axis <paramref name="axis"/> (0 ≤ axis ≤ rank).</summary>
    public static TensorData Stack(IReadOnlyList<TensorData> items, int axis, Func<string, KilnException> error)
    {
        var withAxis = items.Select(t => t.Reshape([.. t.Shape[..axis], 1, .. t.Shape[axis..]])).ToArray();
        foreach (var t in items)
            if (!t.Shape.AsSpan().SequenceEqual(items[0].Shape))
                throw error($"cannot stack shapes {TensorData.FormatShape(items[0].Shape)} and {TensorData.FormatShape(t.Shape)}");
        return Concat(withAxis, axis, error);
    }

    /// <summary>Complex tensors store two numbers per element.</summary>
    private static int ComplexWidth(ElementType t) => t.IsComplex() ? 2 : 1;
}
