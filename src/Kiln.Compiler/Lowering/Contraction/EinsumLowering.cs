using Kiln.Compiler.Lowering.Reduction;
using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime.Kernels.Contraction;
using Kiln.Runtime.Kernels.Reduction;

namespace Kiln.Compiler.Lowering.Contraction;

/// <summary>
/// Einsum as data movement, sums and batched matrix products. Each operand is a strided view over
/// its labels (a repeated label walks the diagonal; a broadcast size-1 axis has stride 0).
/// Operands are contracted left to right: labels neither operand shares nor anything later needs
/// are summed out first, then the pair is rearranged into [batch, M, K] and [batch, K, N] copies
/// for one "batched-matmul" dispatch. Finally labels the output drops are summed and the result
/// is written in output order.
/// </summary>
[Lowerings]
public static class EinsumLowering
{
    public static void Register(LoweringRegistry r) => r.Add("Einsum", Lower);

    /// <summary>A tensor seen through its distinct labels, each with the element stride it moves by.</summary>
    private sealed record Labeled(TensorRef Tensor, Dim Base, List<int> Labels, List<Dim> Strides)
    {
        public Dim StrideOf(int label) => Strides[Labels.IndexOf(label)];
    }

    private static void Lower(LoweringContext ctx)
    {
        var op = ctx.Op;
        var inputs = Enumerable.Range(0, op.Inputs.Count).Select(ctx.Input).ToArray();
        KilnException Invalid(string m) => new(ErrorCode.InvalidModel, $"{op.Describe()}: {m}");
        var equation = EinsumEquation.Parse(op.GetString("equation"), inputs.Select(t => t.Rank).ToArray(), Invalid);
        var known = equation.LabelSizes(inputs.Select(t => (IReadOnlyList<Dim>)t.Shape).ToArray(), Invalid);
        var sizes = known.Select(s => s is { IsUnknown: true } ? throw ctx.Unsupported("operand sizes that only agree at run time") : s ?? 1).ToArray();

        var current = View(inputs[0], equation.OperandLabels[0], sizes);
        for (int i = 1; i < inputs.Length; i++)
        {
            var needed = equation.OutputLabels.Concat(equation.OperandLabels.Skip(i + 1).SelectMany(l => l)).ToHashSet();
            current = Contract(ctx, current, View(inputs[i], equation.OperandLabels[i], sizes), needed, sizes);
        }
        Finish(ctx, current, equation.OutputLabels, sizes);
    }

    private static Labeled View(TensorRef t, int[] axisLabels, Dim[] sizes)
    {
        var contiguous = Layout.ContiguousStrides(t.Shape);
        var labels = new List<int>();
        var strides = new List<Dim>();
        for (int a = 0; a < t.Rank; a++)
        {
            int l = axisLabels[a];
            Dim stride = t.Shape[a] == 1 && sizes[l] != 1 ? 0 : contiguous[a];
            int at = labels.IndexOf(l);
            if (at >= 0) strides[at] += stride;
            else { labels.Add(l); strides.Add(stride); }
        }
        return new Labeled(t, 0, labels, strides);
    }

    /// <summary>The product of two operands, keeping the labels in <paramref name="needed"/> and those only one of them has.</summary>
    private static Labeled Contract(LoweringContext ctx, Labeled a, Labeled b, HashSet<int> needed, Dim[] sizes)
    {
        var dtype = a.Tensor.DType;
        if (!BatchedMatMulKernel.Supports(dtype)) throw ctx.Unsupported($"products of {Runtime.DTypes.Name(dtype)} operands (the batched matmul kernel takes float32 and float64)");
        a = SumOut(ctx, a, l => !needed.Contains(l) && !b.Labels.Contains(l), sizes);
        b = SumOut(ctx, b, l => !needed.Contains(l) && !a.Labels.Contains(l), sizes);
        var shared = a.Labels.Where(b.Labels.Contains).ToList();
        var batch = shared.Where(needed.Contains).ToList();
        var summed = shared.Where(l => !needed.Contains(l)).ToList();
        var m = a.Labels.Where(l => !shared.Contains(l)).ToList();
        var n = b.Labels.Where(l => !shared.Contains(l)).ToList();

        var left = Materialize(ctx, a, [.. batch, .. m, .. summed], sizes);
        var right = Materialize(ctx, b, [.. batch, .. summed, .. n], sizes);
        List<int> labels = [.. batch, .. m, .. n];
        var product = ctx.NewTemporary(dtype, labels.Select(l => sizes[l]).ToArray());
        Dim Count(List<int> ls) => Layout.Product(ls.Select(l => sizes[l]));
        ctx.Dispatch(new KernelSpec(BatchedMatMulKernel.KernelName, BatchedMatMulKernel.Encode(dtype), 3, 4), [left, right], [product],
            [Count(batch), Count(m), Count(summed), Count(n)]);
        return new Labeled(product, 0, labels, [.. Layout.ContiguousStrides(product.Shape)]);
    }

    /// <summary>Sums the labels matching <paramref name="drop"/> out of an operand (nothing to do when none match).</summary>
    private static Labeled SumOut(LoweringContext ctx, Labeled v, Func<int, bool> drop, Dim[] sizes)
    {
        var dropped = v.Labels.Where(drop).ToList();
        if (dropped.Count == 0) return v;
        var kept = v.Labels.Where(l => !drop(l)).ToList();
        var sum = ctx.NewTemporary(v.Tensor.DType, kept.Select(l => sizes[l]).ToArray());
        SumTrailing(ctx, Materialize(ctx, v, [.. kept, .. dropped], sizes), dropped.Count, sum);
        return new Labeled(sum, 0, kept, [.. Layout.ContiguousStrides(sum.Shape)]);
    }

    private static void SumTrailing(LoweringContext ctx, TensorRef x, int count, TensorRef y)
    {
        uint mask = ((1u << count) - 1) << (x.Rank - count);
        ReduceLowering.Emit(ctx, ReduceMap.Identity, ReduceCombine.Sum, ReduceFinalize.None, x, mask, y);
    }

    /// <summary>The operand as a contiguous tensor with its labels in <paramref name="order"/>: itself when already so laid out, else a strided copy.</summary>
    private static TensorRef Materialize(LoweringContext ctx, Labeled v, List<int> order, Dim[] sizes)
    {
        var shape = order.Select(l => sizes[l]).ToArray();
        var strides = order.Select(v.StrideOf).ToArray();
        if (IsContiguous(v, shape, strides)) return v.Tensor.View(shape);
        if (order.Count > Runtime.Kernels.Elementwise.ElementwiseProgram.MaxRank) throw ctx.Unsupported($"{order.Count} distinct labels in one operand");
        var copy = ctx.NewTemporary(v.Tensor.DType, shape);
        StridedCopy.Emit(ctx, shape, new StridedView(v.Tensor, v.Base, strides), StridedView.Contiguous(copy));
        return copy;
    }

    private static bool IsContiguous(Labeled v, Dim[] shape, Dim[] strides) =>
        v.Base == 0 && v.Tensor.ElementCount == Layout.Product(shape) && Layout.ContiguousStrides(shape).SequenceEqual(strides);

    /// <summary>Sums the labels the output drops and writes the result in output order.</summary>
    private static void Finish(LoweringContext ctx, Labeled v, int[] output, Dim[] sizes)
    {
        var dropped = v.Labels.Where(l => !output.Contains(l)).ToList();
        if (dropped.Count > 0)
        {
            SumTrailing(ctx, Materialize(ctx, v, [.. output, .. dropped], sizes), dropped.Count, ctx.NewOutput(0));
            return;
        }
        var shape = output.Select(l => sizes[l]).ToArray();
        var strides = output.Select(v.StrideOf).ToArray();
        if (IsContiguous(v, shape, strides)) ctx.SetOutput(0, v.Tensor.View(shape));
        else StridedCopy.Emit(ctx, shape, new StridedView(v.Tensor, v.Base, strides), StridedView.Contiguous(ctx.NewOutput(0)));
    }
}
