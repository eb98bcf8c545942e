using Kiln.Ir;

namespace Kiln.Compiler.Lowering.Gemm;

/// <summary>
/// How a tensor broadcast against a GEMM-family result is read by an epilogue stage. The result is
/// seen as [batch, row, column]: the axes before <c>rowAxis</c> flattened into the batch, the row
/// axis (output channel, matrix row), and the axes after it flattened into the column (pixels,
/// matrix column). An operand fits when it steps through the flattened batch with one stride and
/// through the columns either not at all or contiguously.
/// </summary>
public static class EpilogueAddressing
{
    /// <summary>The operand's (batch, row, column) element strides, or null when its broadcast does not fit that form.</summary>
    public static (Dim Batch, Dim Row, Dim Column)? Strides(IReadOnlyList<Dim> operand, IReadOnlyList<Dim> result, int rowAxis)
    {
        var s = BroadcastStrides(operand, result);
        if (s is null) return null;
        var batch = Flattened(s, result, 0, rowAxis);
        var column = Flattened(s, result, rowAxis + 1, result.Count);
        if (batch is null || column is null) return null;
        if (column.Value.Stride != (Dim)0 && column.Value.Stride != (Dim)1) return null;
        return (batch.Value.Stride, s[rowAxis], column.Value.Stride);
    }

    /// <summary>One stride for result axes [from, to) taken together, or null when the operand does not step through them as one.</summary>
    private static (Dim Stride, bool Any)? Flattened(Dim[] strides, IReadOnlyList<Dim> shape, int from, int to)
    {
        Dim? inner = null;
        Dim expected = 0;
        for (int i = to - 1; i >= from; i--)
        {
            if (shape[i].TryGetValue(out long one) && one == 1) continue;
            if (inner is null)
            {
                inner = strides[i];
                expected = strides[i] * shape[i];
                continue;
            }
            if (inner == (Dim)0 ? strides[i] != (Dim)0 : strides[i] != expected) return null;
            expected = strides[i] * shape[i];
        }
        return (inner ?? 0, inner is not null);
    }

    /// <summary>Numpy broadcast strides of a contiguous operand over the result, or null when sizes cannot be matched at compile time.</summary>
    private static Dim[]? BroadcastStrides(IReadOnlyList<Dim> operand, IReadOnlyList<Dim> result)
    {
        int offset = result.Count - operand.Count;
        if (offset < 0) return null;
        var own = Layout.ContiguousStrides(operand);
        var s = new Dim[result.Count];
        for (int i = 0; i < result.Count; i++)
        {
            if (i < offset) { s[i] = 0; continue; }
            var d = operand[i - offset];
            if (d == result[i]) s[i] = own[i - offset];
            else if (d.TryGetValue(out long v) && v == 1) s[i] = 0;
            else return null;
        }
        return s;
    }
}
