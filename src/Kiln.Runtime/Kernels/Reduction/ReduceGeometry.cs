namespace Kiln.Runtime.Kernels.Reduction;

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
            long n = DispatchChecks.Size(dims[d], kernel, "dimension");
            if ((mask >> d & 1) != 0) reduced = DispatchChecks.Multiply(reduced, n, kernel, "reduced size");
            else groups = DispatchChecks.Multiply(groups, n, kernel, "output size");
        }
        DispatchChecks.Multiply(groups, reduced, kernel, "input size");
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
