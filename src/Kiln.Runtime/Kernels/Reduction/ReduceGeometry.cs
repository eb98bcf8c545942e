using System.Runtime.CompilerServices;

namespace Kiln.Runtime.Kernels.Reduction;

/// <summary>Up to eight sizes or strides, inline (no allocation per dispatch).</summary>
[InlineArray(8)]
internal struct Dims8
{
    private long _element;
}

/// <summary>A row-major index space of up to eight blocks, each with a size and an element stride in the input.</summary>
internal struct Blocks
{
    public Dims8 Sizes, Strides;
    public int Count;

    public void Add(long size, long stride)
    {
        Sizes[Count] = size;
        Strides[Count] = stride;
        Count++;
    }

    public readonly long Product
    {
        get
        {
            long p = 1;
            for (int i = 0; i < Count; i++) p *= Sizes[i];
            return p;
        }
    }

    /// <summary>The input offset of the position with this row-major linear index.</summary>
    public readonly long Offset(long linear)
    {
        long offset = 0;
        for (int i = Count - 1; i >= 0; i--)
        {
            offset += linear % Sizes[i] * Strides[i];
            linear /= Sizes[i];
        }
        return offset;
    }
}

/// <summary>Walks a <see cref="Blocks"/> space in row-major order, keeping the input offset current.</summary>
internal struct Odometer
{
    private Dims8 _index;
    public long Offset;

    public static Odometer At(in Blocks b, long linear)
    {
        var o = new Odometer();
        for (int i = b.Count - 1; i >= 0; i--)
        {
            o._index[i] = linear % b.Sizes[i];
            o.Offset += o._index[i] * b.Strides[i];
            linear /= b.Sizes[i];
        }
        return o;
    }

    public void Advance(in Blocks b)
    {
        for (int i = b.Count - 1; i >= 0; i--)
        {
            Offset += b.Strides[i];
            if (++_index[i] < b.Sizes[i]) return;
            Offset -= b.Strides[i] * _index[i];
            _index[i] = 0;
        }
    }
}

/// <summary>
/// How a reduction walks its input. Axes of size 1 are dropped and neighbouring axes that are both
/// kept or both reduced merge, leaving alternating blocks. When the last block is reduced, each
/// group folds contiguous runs of <see cref="RunLength"/> elements (rows); when it is kept, each
/// output row of <see cref="RunLength"/> contiguous results combines input rows elementwise
/// (columns). Either way <see cref="Kept"/> enumerates the output rows and <see cref="Stepped"/>
/// the runs that fold into each.
/// </summary>
internal struct ReduceGeometry
{
    /// <summary>Output values (per slice) and elements folded into each.</summary>
    public long Groups, Reduced;
    public bool RowsReduced;
    public long RunLength;
    public Blocks Kept, Stepped;

    public readonly long Rows => Kept.Product;
    public readonly long Steps => Stepped.Product;

    public static ReduceGeometry Create(ReadOnlySpan<long> dims, uint mask, string kernel)
    {
        var g = new ReduceGeometry();
        long groups = 1, reduced = 1;
        for (int d = 0; d < dims.Length; d++)
        {
            long n = KernelChecks.Size(dims[d], kernel, "dimension");
            if ((mask >> d & 1) != 0) reduced = KernelChecks.Multiply(reduced, n, kernel, "reduced size");
            else groups = KernelChecks.Multiply(groups, n, kernel, "output size");
        }
        KernelChecks.Multiply(groups, reduced, kernel, "input size");
        g.Groups = groups;
        g.Reduced = reduced;
        g.RunLength = 1;
        g.RowsReduced = true;
        if (groups == 0 || reduced == 0) return g;

        // Merge into alternating blocks (row-major strides; size-1 axes move nothing).
        Span<long> sizes = stackalloc long[dims.Length], strides = stackalloc long[dims.Length];
        Span<bool> isReduced = stackalloc bool[dims.Length];
        int count = 0;
        long stride = 1;
        for (int d = dims.Length - 1; d >= 0; d--)
        {
            bool r = (mask >> d & 1) != 0;
            if (dims[d] != 1)
            {
                if (count > 0 && isReduced[count - 1] == r) sizes[count - 1] *= dims[d];
                else { sizes[count] = dims[d]; strides[count] = stride; isReduced[count] = r; count++; }
            }
            stride *= dims[d];
        }
        // Blocks were collected innermost first.
        g.RowsReduced = count == 0 || isReduced[0];
        if (count > 0) g.RunLength = sizes[0];
        for (int k = count - 1; k >= 1; k--)
        {
            if (isReduced[k]) g.Stepped.Add(sizes[k], strides[k]);
            else g.Kept.Add(sizes[k], strides[k]);
        }
        return g;
    }
}
