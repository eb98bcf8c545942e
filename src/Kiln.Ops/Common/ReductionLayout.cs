using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// A row-major tensor split into reduction groups: the elements that reduce to one output
/// element. Group g starts at <see cref="GroupStarts"/>[g] and holds the elements at
/// <see cref="MemberOffsets"/> relative to that start. Groups follow the row-major order of the
/// kept axes (the output's order); members follow the row-major order of the reduced axes.
/// Precomputing both offset lists keeps the inner loops free of index arithmetic.
/// </summary>
public sealed class ReductionLayout
{
    private ReductionLayout(int[] groupStarts, int[] memberOffsets, long[] keptShape)
    {
        GroupStarts = groupStarts;
        MemberOffsets = memberOffsets;
        KeptShape = keptShape;
    }

    public int[] GroupStarts { get; }
    public int[] MemberOffsets { get; }

    /// <summary>The input shape with every reduced axis set to 1 (the keepdims result shape).</summary>
    public long[] KeptShape { get; }

    public int GroupCount => GroupStarts.Length;
    public int GroupSize => MemberOffsets.Length;

    /// <summary>The layout reducing <paramref name="reduced"/> axes (normalized, distinct) of a tensor of this shape.</summary>
    public static ReductionLayout Create(long[] shape, IReadOnlyCollection<int> reduced)
    {
        var strides = Broadcasting.Strides(shape);
        var isReduced = new bool[shape.Length];
        foreach (int a in reduced) isReduced[a] = true;
        var keptShape = new long[shape.Length];
        List<long> keptDims = [], keptStrides = [], reducedDims = [], reducedStrides = [];
        for (int d = 0; d < shape.Length; d++)
        {
            keptShape[d] = isReduced[d] ? 1 : shape[d];
            (isReduced[d] ? reducedDims : keptDims).Add(shape[d]);
            (isReduced[d] ? reducedStrides : keptStrides).Add(strides[d]);
        }
        return new ReductionLayout(Offsets(keptDims, keptStrides), Offsets(reducedDims, reducedStrides), keptShape);
    }

    /// <summary>The layout reducing the trailing axes from <paramref name="firstAxis"/> on (layer-norm style).</summary>
    public static ReductionLayout Trailing(long[] shape, int firstAxis) =>
        Create(shape, Enumerable.Range(firstAxis, shape.Length - firstAxis).ToArray());

    /// <summary>Every linear offset of an index space with the given sizes and strides, in row-major order.</summary>
    private static int[] Offsets(List<long> dims, List<long> strides)
    {
        var offsets = new int[TensorData.CheckedCount(dims.ToArray())];
        var index = new long[dims.Count];
        long offset = 0;
        for (int i = 0; i < offsets.Length; i++)
        {
            offsets[i] = (int)offset;
            for (int d = dims.Count - 1; d >= 0; d--)
            {
                index[d]++;
                offset += strides[d];
                if (index[d] < dims[d]) break;
                offset -= strides[d] * index[d];
                index[d] = 0;
            }
        }
        return offsets;
    }
}
