using System.Numerics;
using System.Numerics.Tensors;

namespace Kiln.Ops;

/// <summary>
/// Direct convolution loops shared by Conv, ConvInteger, QLinearConv and ConvTranspose, generic
/// over the accumulation type (float, double, int). Work is split by output plane (one batch item,
/// one output channel), planes run in parallel; within a plane the loops walk output rows in
/// column blocks so the block being accumulated stays in cache, and each kernel tap adds a
/// contiguous run of an input row (vectorized) when the stride is 1.
/// Data layouts are ONNX's: x [N, C, spatial...], y [N, M, spatial...].
/// </summary>
public static class ConvolutionKernels
{
    private const int ColumnBlock = 1024;

    /// <summary>
    /// Conv: y[n, m] = bias[m] + sum over the group's input channels c and kernel taps of
    /// x[n, c, input position] * w[m, c, tap]; w is [M, C / groups, kernel...].
    /// </summary>
    public static void Convolve<T>(T[] x, T[] w, T[]? bias, T[] y, int batch, int channels, int filters, int groups, WindowGeometry g)
        where T : unmanaged, INumber<T>
    {
        var rows = new WindowRows(FlattenPointwise(g));
        int cg = channels / groups, mg = filters / groups;
        int inPlane = (int)g.InputPlane, outPlane = (int)g.OutputPlane, kernelSize = (int)g.KernelSize;
        Parallel.For(0, batch * filters, nm =>
        {
            int n = nm / filters, m = nm % filters, firstChannel = m / mg * cg;
            var plane = y.AsSpan(nm * outPlane, outPlane);
            plane.Fill(bias is null ? T.Zero : bias[m]);
            for (int r = 0; r < rows.OutputRows; r++)
            {
                var outRow = plane.Slice(r * rows.OutputRowLength, rows.OutputRowLength);
                for (int b0 = 0; b0 < outRow.Length; b0 += ColumnBlock)
                {
                    int b1 = Math.Min(b0 + ColumnBlock, outRow.Length);
                    for (int c = 0; c < cg; c++)
                    {
                        var input = x.AsSpan((n * channels + firstChannel + c) * inPlane, inPlane);
                        var weights = w.AsSpan((m * cg + c) * kernelSize, kernelSize);
                        for (int q = 0; q < rows.OuterTaps; q++)
                        {
                            int inRow = rows.InputRow[r * rows.OuterTaps + q];
                            if (inRow < 0) continue;
                            var inputRow = input.Slice(inRow * rows.InputRowLength, rows.InputRowLength);
                            for (int j = 0; j < rows.RowTaps; j++)
                            {
                                var (start, end, offset) = rows.Taps[j];
                                start = Math.Max(start, b0);
                                end = Math.Min(end, b1);
                                if (start < end) Gather(inputRow, weights[q * rows.RowTaps + j], outRow, start, end, rows.Stride, offset);
                            }
                        }
                    }
                }
            }
        });
    }

    /// <summary>
    /// ConvTranspose: every input element x[n, c, i] adds x * w[c, m, tap] to the output position
    /// i * stride - pad + tap * dilation; w is [C, M / groups, kernel...]. <paramref name="swapped"/>
    /// is the window with the roles of input and output exchanged (its Output is the input's sizes).
    /// </summary>
    public static void ConvolveTranspose<T>(T[] x, T[] w, T[]? bias, T[] y, int batch, int channels, int filters, int groups, WindowGeometry swapped)
        where T : unmanaged, INumber<T>
    {
        // In the swapped window an "output row" is a row of x and an "input row" a row of y.
        var rows = new WindowRows(FlattenPointwise(swapped));
        int cg = channels / groups, mg = filters / groups;
        int xPlane = (int)swapped.OutputPlane, yPlane = (int)swapped.InputPlane, kernelSize = (int)swapped.KernelSize;
        Parallel.For(0, batch * filters, nm =>
        {
            int n = nm / filters, m = nm % filters, group = m / mg, mInGroup = m % mg;
            var plane = y.AsSpan(nm * yPlane, yPlane);
            plane.Fill(bias is null ? T.Zero : bias[m]);
            for (int c = group * cg; c < (group + 1) * cg; c++)
            {
                var input = x.AsSpan((n * channels + c) * xPlane, xPlane);
                var weights = w.AsSpan((c * mg + mInGroup) * kernelSize, kernelSize);
                for (int r = 0; r < rows.OutputRows; r++)
                {
                    var inputRow = input.Slice(r * rows.OutputRowLength, rows.OutputRowLength);
                    for (int q = 0; q < rows.OuterTaps; q++)
                    {
                        int outRow = rows.InputRow[r * rows.OuterTaps + q];
                        if (outRow < 0) continue;
                        var outputRow = plane.Slice(outRow * rows.InputRowLength, rows.InputRowLength);
                        for (int j = 0; j < rows.RowTaps; j++)
                        {
                            var (start, end, offset) = rows.Taps[j];
                            if (start < end) Scatter(inputRow, weights[q * rows.RowTaps + j], outputRow, start, end, rows.Stride, offset);
                        }
                    }
                }
            }
        });
    }

    /// <summary>output[o] += weight * input[o * stride + offset] for o in [start, end).</summary>
    private static void Gather<T>(ReadOnlySpan<T> input, T weight, Span<T> output, int start, int end, int stride, int offset)
        where T : unmanaged, INumber<T>
    {
        if (stride == 1)
        {
            var run = output[start..end];
            TensorPrimitives.MultiplyAdd(input.Slice(start + offset, run.Length), weight, run, run);
            return;
        }
        for (int o = start, i = start * stride + offset; o < end; o++, i += stride) output[o] += weight * input[i];
    }

    /// <summary>output[i * stride + offset] += weight * input[i] for i in [start, end).</summary>
    private static void Scatter<T>(ReadOnlySpan<T> input, T weight, Span<T> output, int start, int end, int stride, int offset)
        where T : unmanaged, INumber<T>
    {
        if (stride == 1)
        {
            var run = output.Slice(start + offset, end - start);
            TensorPrimitives.MultiplyAdd(input[start..end], weight, run, run);
            return;
        }
        for (int i = start, o = start * stride + offset; i < end; i++, o += stride) output[o] += weight * input[i];
    }

    /// <summary>
    /// A 1x1 window with unit strides and no padding maps each plane onto itself: treat the plane
    /// as one long row, so the inner loops run over whole planes (in column blocks).
    /// </summary>
    private static WindowGeometry FlattenPointwise(WindowGeometry g)
    {
        for (int a = 0; a < g.SpatialRank; a++)
            if (g.Kernel[a] != 1 || g.Strides[a] != 1 || g.PadBegin[a] != 0 || g.Input[a] != g.Output[a]) return g;
        long plane = g.InputPlane;
        return new WindowGeometry([plane], [plane], [1], [1], [1], [0]);
    }
}
