using System.Numerics;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Kernels.Support;

namespace Kiln.Runtime.Kernels.Sampling;

/// <summary>
/// The portable "col2im" kernel: Col2Im(input [N, C·B, L], image_shape, block_shape) → [N, C, image...],
/// the inverse of im2col: column (c, tap) of block position l adds into the image element that
/// block covers with that tap (positions as in convolution: strides, dilations, pads). The block
/// shape is read from its tensor at run time (the image shape is the result's); both are checked
/// against the input's sizes. A work item is one (n, c) image plane; taps are added in the
/// reference's order (tap-major, positions row-major), so sums match it exactly.
/// Descriptor (little-endian): <c>u8 version(1) · u8 dtype (float32 | float64) · u8 k · per axis: i64 stride, i64 dilation, i64 pad begin, i64 pad end</c>.
/// Push constants: N, C, C·B, L, the k image sizes. Bindings: input, image_shape (int64 [k]), block_shape (int64 [k]), Y.
/// </summary>
public sealed unsafe class Col2ImKernel : Kernel
{
    public const string KernelName = "col2im";
    public const byte Version = 1;
    public const int MaxSpatialRank = 6;
    private const long MaxWindowParameter = 1 << 20;

    private readonly DType _dtype;
    private readonly long[] _strides, _dilations, _padBegin, _padEnd;

    private Col2ImKernel(DType dtype, long[] strides, long[] dilations, long[] padBegin, long[] padEnd) =>
        (_dtype, _strides, _dilations, _padBegin, _padEnd) = (dtype, strides, dilations, padBegin, padEnd);

    private int K => _strides.Length;

    public static byte[] Encode(DType dtype, long[] strides, long[] dilations, long[] padBegin, long[] padEnd)
    {
        using var s = new MemoryStream();
        using var w = new BinaryWriter(s);
        w.Write(Version);
        w.Write((byte)dtype);
        w.Write((byte)strides.Length);
        for (int a = 0; a < strides.Length; a++)
        {
            w.Write(strides[a]);
            w.Write(dilations[a]);
            w.Write(padBegin[a]);
            w.Write(padEnd[a]);
        }
        w.Flush();
        return s.ToArray();
    }

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        byte dtype = r.U8(), k = r.U8();
        if (dtype is not ((byte)DType.Float32 or (byte)DType.Float64)) throw r.Invalid($"dtype {dtype} is not float32 or float64");
        if (k is 0 or > MaxSpatialRank) throw r.Invalid($"spatial rank {k} is outside [1, {MaxSpatialRank}]");
        var (strides, dilations, padBegin, padEnd) = (new long[k], new long[k], new long[k], new long[k]);
        for (int a = 0; a < k; a++)
        {
            (strides[a], dilations[a], padBegin[a], padEnd[a]) = (r.I64(), r.I64(), r.I64(), r.I64());
            if (strides[a] is < 1 or > MaxWindowParameter || dilations[a] is < 1 or > MaxWindowParameter
                || padBegin[a] is < 0 or > MaxWindowParameter || padEnd[a] is < 0 or > MaxWindowParameter)
                throw r.Invalid($"axis {a}: stride, dilation and pads must lie in [1 (0 for pads), 2^20]");
        }
        r.ExpectEnd();
        if (bindingCount != 4 || constantCount != 4 + k) throw r.Invalid($"needs 4 bindings and {4 + k} constants, has {bindingCount} and {constantCount}");
        return new Col2ImKernel((DType)dtype, strides, dilations, padBegin, padEnd);
    }

    public override string Name => KernelName;

    public override void Validate(in DispatchState d)
    {
        foreach (long v in d.ConstantSpan) KernelChecks.Size(KernelName, v, "a size");
        long n = d.Constant(0), c = d.Constant(1), columns = d.Constant(2), positions = d.Constant(3);
        var image = d.ConstantSpan[4..];
        KernelChecks.Holds(KernelName, d, 1, K, sizeof(long), "image_shape");
        KernelChecks.Holds(KernelName, d, 2, K, sizeof(long), "block_shape");
        var imageShape = (long*)d.Binding(1).Data;
        var block = (long*)d.Binding(2).Data;
        long taps = 1, blocks = 1;
        for (int a = 0; a < K; a++)
        {
            if (imageShape[a] != image[a]) throw KernelChecks.Error(KernelName, $"image_shape[{a}] is {imageShape[a]}, the program was compiled for {image[a]}");
            if (block[a] is < 1 or > MaxWindowParameter) throw KernelChecks.Error(KernelName, $"block_shape[{a}] = {block[a]} is outside [1, 2^20]");
            taps = KernelChecks.Multiply(KernelName, taps, block[a]);
            long extent = (block[a] - 1) * _dilations[a] + 1, span = image[a] + _padBegin[a] + _padEnd[a] - extent;
            if (span < 0) throw KernelChecks.Error(KernelName, $"axis {a}: a block of extent {extent} does not fit the padded image");
            blocks = KernelChecks.Multiply(KernelName, blocks, span / _strides[a] + 1);
        }
        if (KernelChecks.Product(KernelName, image) > int.MaxValue) throw KernelChecks.Error(KernelName, "image planes beyond 2^31 elements");
        if (KernelChecks.Multiply(KernelName, c, taps) != columns) throw KernelChecks.Error(KernelName, $"input dimension 1 is {columns}, {c} channels of {taps} taps need {c * taps}");
        if (blocks != positions) throw KernelChecks.Error(KernelName, $"the input has {positions} block positions, the image and block shapes give {blocks}");
        KernelChecks.Holds(KernelName, d, 0, KernelChecks.Multiply(KernelName, KernelChecks.Multiply(KernelName, n, columns), positions), _dtype.Size(), "input");
        KernelChecks.Holds(KernelName, d, 3, KernelChecks.Multiply(KernelName, KernelChecks.Multiply(KernelName, n, c), KernelChecks.Product(KernelName, image)), _dtype.Size(), "Y");
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) =>
        (WorkSplit.Groups(d.Constant(0) * d.Constant(1), d.Constant(2) / Math.Max(1, d.Constant(1)) * d.Constant(3), env), 1, 1);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        if (_dtype == DType.Float32) Run<float>(d, wg);
        else Run<double>(d, wg);
    }

    private void Run<T>(in DispatchState d, in WorkgroupState wg) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int k = K;
        long channels = d.Constant(1), positions = d.Constant(3);
        var image = d.ConstantSpan[4..];
        var block = new ReadOnlySpan<long>(d.Binding(2).Data, k);
        Span<long> outputs = stackalloc long[k];
        Span<long> imageStride = stackalloc long[k];
        long taps = 1, plane = 1;
        for (int a = k - 1; a >= 0; a--)
        {
            outputs[a] = (image[a] + _padBegin[a] + _padEnd[a] - ((block[a] - 1) * _dilations[a] + 1)) / _strides[a] + 1;
            imageStride[a] = plane;
            plane *= image[a];
            taps *= block[a];
        }
        Span<long> tap = stackalloc long[k];
        Span<long> position = stackalloc long[k];
        T* x = (T*)d.Binding(0).Data, y = (T*)d.Binding(3).Data;
        var (start, end) = WorkSplit.Range(wg.X, d.WorkgroupCountX, d.Constant(0) * channels);
        for (long p = start; p < end; p++)
        {
            T* target = y + p * plane;
            new Span<T>(target, (int)plane).Clear();
            tap.Clear();
            for (long t = 0; t < taps; t++)
            {
                T* column = x + (p * taps + t) * positions;
                position.Clear();
                for (long l = 0; l < positions; l++)
                {
                    long offset = 0;
                    for (int a = 0; a < k && offset >= 0; a++)
                    {
                        long i = position[a] * _strides[a] - _padBegin[a] + tap[a] * _dilations[a];
                        offset = i < 0 || i >= image[a] ? -1 : offset + i * imageStride[a];
                    }
                    if (offset >= 0) target[offset] += column[l];
                    Next(position, outputs);
                }
                Next(tap, block);
            }
        }
    }

    private static void Next(Span<long> coord, ReadOnlySpan<long> sizes)
    {
        for (int a = coord.Length - 1; a >= 0; a--)
        {
            if (++coord[a] < sizes[a]) return;
            coord[a] = 0;
        }
    }
}
