using Kiln.Ir;
using Kiln.Runtime;
using Kiln.Runtime.Kernels.Gemm;

namespace Kiln.Compiler.Lowering.Gemm;

/// <summary>
/// One operand of a batched product: the input it comes from (or its compile-time value), the
/// element strides of its matrix — along its lanes (A's rows, B's columns) and along the depth — and
/// its element strides along each batch axis of the result (0 where it broadcasts).
/// </summary>
public sealed record MatrixOperand(int Input, TensorData? Value, Dim LaneStride, Dim DepthStride, Dim[] BatchStrides);

/// <summary>
/// A batched product C[batch, M, N] = A[batch, M, K]·B[batch, K, N] about to be lowered to one
/// "matmul" dispatch. Constant float32 operands are packed at compile time into the kernel's panel
/// layout (a new constant segment); others are packed by the kernel as it runs.
/// </summary>
public sealed class MatrixProduct
{
    public required Dim M { get; init; }
    public required Dim N { get; init; }
    public required Dim K { get; init; }
    /// <summary>Sizes of the result's batch axes (C is dense [batch..., M, N]).</summary>
    public required Dim[] Batch { get; init; }
    public required MatrixOperand A { get; init; }
    public required MatrixOperand B { get; init; }

    /// <summary>
    /// Emits the dispatch for a float32 product into <paramref name="c"/>, with the given epilogue.
    /// <paramref name="inputs"/> overrides where operand tensors come from (converted copies).
    /// </summary>
    public void EmitFloat32(LoweringContext ctx, TensorRef c, EpiloguePlan epilogue, Func<int, TensorRef>? inputs = null)
    {
        inputs ??= ctx.Input;
        var (batch, aBatch, bBatch) = MergedBatchAxes();
        byte flags = 0;
        TensorRef a, b;
        Dim ars = A.LaneStride, aks = A.DepthStride, bks = B.DepthStride, bcs = B.LaneStride;
        if (A.Value is { } av)
        {
            (a, aBatch) = Pack(ctx, A, av, aBatch, M, PanelLayout.Rows);
            flags |= MatMulKernel.PrepackedA;
            ars = aks = 0;
        }
        else a = inputs(A.Input);
        if (B.Value is { } bv)
        {
            (b, bBatch) = Pack(ctx, B, bv, bBatch, N, PanelLayout.Columns);
            flags |= MatMulKernel.PrepackedB;
            bks = bcs = 0;
        }
        else b = inputs(B.Input);

        var constants = new List<Dim> { M, N, K, ars, aks, bks, bcs };
        for (int i = 0; i < batch.Length; i++) constants.AddRange([batch[i], aBatch[i], bBatch[i]]);
        constants.AddRange(epilogue.Constants());
        var e = epilogue.Build();
        var spec = new KernelSpec(MatMulKernel.KernelName, MatMulKernel.Encode(DType.Float32, flags, batch.Length, e), 3 + e.OperandCount, constants.Count);
        ctx.Dispatch(spec, [a, b, .. epilogue.Operands.Select(o => o.Tensor)], [c], constants);
    }

    /// <summary>Emits the plain product (float64, integers) of tensors <paramref name="a"/> and <paramref name="b"/> into <paramref name="c"/> (all of one type).</summary>
    public void EmitPlain(LoweringContext ctx, TensorRef a, TensorRef b, TensorRef c)
    {
        if (!MatMulKernel.IsSupported(c.DType)) throw ctx.Unsupported($"matrix products of {c.DType.Name()}");
        var (batch, aBatch, bBatch) = MergedBatchAxes();
        var constants = new List<Dim> { M, N, K, A.LaneStride, A.DepthStride, B.DepthStride, B.LaneStride };
        for (int i = 0; i < batch.Length; i++) constants.AddRange([batch[i], aBatch[i], bBatch[i]]);
        var e = new Epilogue([]);
        var spec = new KernelSpec(MatMulKernel.KernelName, MatMulKernel.Encode(c.DType, 0, batch.Length, e), 3, constants.Count);
        ctx.Dispatch(spec, [a, b], [c], constants);
    }

    /// <summary>True when the result has no elements (nothing to dispatch).</summary>
    public bool IsEmpty => new[] { M, N }.Concat(Batch).Any(d => d.TryGetValue(out long v) && v == 0);

    /// <summary>Batch axes with size-1 axes dropped and neighbours merged where both operands step through them as one.</summary>
    private (Dim[] Sizes, Dim[] A, Dim[] B) MergedBatchAxes()
    {
        var sizes = new List<Dim>();
        var sa = new List<Dim>();
        var sb = new List<Dim>();
        for (int i = 0; i < Batch.Length; i++)
        {
            if (Batch[i].TryGetValue(out long one) && one == 1) continue;
            if (sizes.Count > 0 && sa[^1] == A.BatchStrides[i] * Batch[i] && sb[^1] == B.BatchStrides[i] * Batch[i])
            {
                sizes[^1] *= Batch[i];
                sa[^1] = A.BatchStrides[i];
                sb[^1] = B.BatchStrides[i];
                continue;
            }
            sizes.Add(Batch[i]);
            sa.Add(A.BatchStrides[i]);
            sb.Add(B.BatchStrides[i]);
        }
        if (sizes.Count > MatMulKernel.MaxBatchRank)
            throw new KilnException(ErrorCode.UnsupportedOperator, $"matrix products with {sizes.Count} independent batch axes (at most {MatMulKernel.MaxBatchRank})");
        return (sizes.ToArray(), sa.ToArray(), sb.ToArray());
    }

    /// <summary>
    /// Packs every matrix of a constant operand into panels (one packed matrix after another, in
    /// the operand's own batch order) and rescales its batch strides to the packed matrices.
    /// </summary>
    private (TensorRef Packed, Dim[] BatchStrides) Pack(LoweringContext ctx, MatrixOperand operand, TensorData value, Dim[] batchStrides, Dim lanes, int width)
    {
        long extent = lanes.Value, depth = K.Value, laneStride = operand.LaneStride.Value, depthStride = operand.DepthStride.Value;
        long matrix = extent * depth;
        long matrices = value.ElementCount / Math.Max(matrix, 1);
        long packedLength = PanelLayout.PackedLength(extent, depth, width);
        if (checked(matrices * packedLength) > TensorData.MaxElements) throw ctx.Unsupported("a packed weight matrix this large");
        var source = value.Data<float>();
        var packed = new float[matrices * packedLength];
        for (long i = 0; i < matrices; i++)
            PanelLayout.Pack(source, i * matrix, laneStride, depthStride, (int)extent, (int)depth, width, packed.AsSpan((int)(i * packedLength), (int)packedLength));
        var tensor = ctx.NewConstant(TensorData.FromFloats([packed.LongLength], packed));
        var strides = batchStrides.Select(s => (Dim)(s.Value / Math.Max(matrix, 1) * packedLength)).ToArray();
        return (tensor, strides);
    }
}
