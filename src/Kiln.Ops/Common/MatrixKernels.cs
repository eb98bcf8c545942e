using System.Numerics;
using System.Numerics.Tensors;
using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// Matrix products on row-major arrays, generic over the element type, with numpy matmul
/// semantics for batches: 1-D operands are promoted to matrices (and the added axis removed from
/// the result), leading batch axes broadcast.
/// </summary>
public static class MatrixKernels
{
    /// <summary>Products with fewer multiply-adds than this run on one thread.</summary>
    private const long ParallelWork = 1 << 20;

    /// <summary>The numpy matmul result shape, or a description of why the shapes do not fit.</summary>
    public static long[] ResultShape(long[] a, long[] b, Func<string, Exception> error)
    {
        if (a.Length == 0 || b.Length == 0) throw error("MatMul operands must have rank 1 or more");
        var (am, ak) = a.Length == 1 ? (1L, a[0]) : (a[^2], a[^1]);
        var (bk, bn) = b.Length == 1 ? (b[0], 1L) : (b[^2], b[^1]);
        if (ak != bk) throw error($"inner sizes differ: {TensorData.FormatShape(a)} x {TensorData.FormatShape(b)}");
        long[] batch = Broadcasting.Shape(null, a.Length > 2 ? a[..^2] : [], b.Length > 2 ? b[..^2] : []);
        var shape = new List<long>(batch);
        if (a.Length > 1) shape.Add(am);
        if (b.Length > 1) shape.Add(bn);
        return [.. shape];
    }

    /// <summary>
    /// The product of A and B (numpy matmul), accumulating in T. A batch axis of size 1 in one
    /// operand is reused for every index of the other's.
    /// </summary>
    public static T[] MatMul<T>(T[] a, long[] aShape, T[] b, long[] bShape, long[] resultShape) where T : unmanaged, INumber<T>
    {
        // Promote 1-D operands: [K] as A is [1, K]; [K] as B is [K, 1].
        long[] a2 = aShape.Length == 1 ? [1, aShape[0]] : aShape;
        long[] b2 = bShape.Length == 1 ? [bShape[0], 1] : bShape;
        int m = (int)a2[^2], k = (int)a2[^1], n = (int)b2[^1];
        long[] aBatch = a2[..^2], bBatch = b2[..^2];
        long[] batch = Broadcasting.Shape(null, aBatch, bBatch);
        int batches = (int)TensorData.CheckedCount(batch);
        var aIndex = Broadcasting.IndexMap(aBatch, batch);
        var bIndex = Broadcasting.IndexMap(bBatch, batch);
        var c = HostBuffers.Allocate<T>(resultShape);

        void Row(int row)
        {
            int bi = row / Math.Max(m, 1), i = row % Math.Max(m, 1);
            var aRow = a.AsSpan((aIndex[bi] * m + i) * k, k);
            var bMatrix = b.AsSpan(bIndex[bi] * k * n, k * n);
            var cRow = c.AsSpan((bi * m + i) * n, n);
            for (int p = 0; p < k; p++)
                TensorPrimitives.MultiplyAdd(bMatrix.Slice(p * n, n), aRow[p], cRow, cRow);
        }

        int rows = batches * m;
        if ((long)rows * k * n >= ParallelWork) Parallel.For(0, rows, Row);
        else for (int r = 0; r < rows; r++) Row(r);
        return c;
    }

    /// <summary>A row-major [rows, cols] matrix transposed.</summary>
    public static T[] Transpose<T>(T[] x, int rows, int cols)
    {
        var t = new T[x.Length];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) t[j * rows + i] = x[i * cols + j];
        return t;
    }
}
