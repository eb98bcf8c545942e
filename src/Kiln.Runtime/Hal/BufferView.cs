using System.Runtime.InteropServices;
using System.Numerics.Tensors;

namespace Kiln.Runtime.Hal;

/// <summary>
/// A tensor: a range of a <see cref="DeviceBuffer"/> seen as elements of one dtype in a shape
/// (row-major). What callers pass to and get from a function. Disposing releases the buffer if
/// the view owns it (outputs and wrapped inputs do). Not thread-safe for writes.
/// </summary>
public sealed unsafe class BufferView : IDisposable
{
    private readonly bool _ownsBuffer;
    private readonly long[] _shape;

    public DeviceBuffer Buffer { get; }
    public long Offset { get; }
    public DType DType { get; }
    public ReadOnlySpan<long> Shape => _shape;
    public int Rank => _shape.Length;
    public long ElementCount { get; }
    public long ByteLength => ElementCount * DType.Size();

    public BufferView(DeviceBuffer buffer, long offset, DType dtype, long[] shape, bool ownsBuffer = false)
    {
        long count = CheckedCount(shape);
        long bytes = count * dtype.Size();
        buffer.CheckRange(offset, bytes, $"tensor {dtype.Name()}{FormatShape(shape)}");
        Buffer = buffer;
        Offset = offset;
        DType = dtype;
        _shape = shape;
        ElementCount = count;
        _ownsBuffer = ownsBuffer;
    }

    public static long CheckedCount(ReadOnlySpan<long> shape)
    {
        long n = 1;
        foreach (long d in shape)
        {
            if (d < 0) throw new KilnRuntimeException(StatusCode.InvalidArgument, $"negative dimension in shape {FormatShape(shape)}");
            try { n = checked(n * d); }
            catch (OverflowException) { throw new KilnRuntimeException(StatusCode.OutOfRange, $"shape {FormatShape(shape)} has too many elements"); }
        }
        return n;
    }

    /// <summary>Wraps a caller's array without copying (pinned until the view is disposed).</summary>
    public static BufferView Wrap<T>(T[] data, params long[] shape) where T : unmanaged
    {
        long count = CheckedCount(shape);
        if (count != data.LongLength)
            throw new KilnRuntimeException(StatusCode.InvalidArgument, $"an array of {data.Length} elements cannot be a tensor of shape {FormatShape(shape)}");
        return new BufferView(DeviceBuffer.Pin(data, count * sizeof(T)), 0, DTypes.Of<T>(), (long[])shape.Clone(), ownsBuffer: true);
    }

    /// <summary>Copies elements into a new tensor (for spans, which cannot be kept).</summary>
    public static BufferView Copy<T>(ReadOnlySpan<T> data, params long[] shape) where T : unmanaged
    {
        long count = CheckedCount(shape);
        if (count != data.Length)
            throw new KilnRuntimeException(StatusCode.InvalidArgument, $"{data.Length} elements cannot be a tensor of shape {FormatShape(shape)}");
        var view = Allocate(DTypes.Of<T>(), (long[])shape.Clone());
        data.CopyTo(view.AsSpan<T>());
        return view;
    }

    /// <summary>Wraps a dense System.Numerics.Tensors tensor without copying (pinned until the view is disposed).</summary>
    public static BufferView Wrap<T>(Tensor<T> tensor) where T : unmanaged
    {
        if (!tensor.IsDense)
            throw new KilnRuntimeException(StatusCode.InvalidArgument, "only dense tensors can be wrapped; copy a strided tensor with ToDenseTensor() first");
        var shape = new long[tensor.Rank];
        for (int i = 0; i < shape.Length; i++) shape[i] = tensor.Lengths[i];
        var handle = tensor.GetPinnedHandle();
        long bytes = CheckedCount(shape) * sizeof(T);
        return new BufferView(DeviceBuffer.Wrap((byte*)handle.Pointer, bytes, handle), 0, DTypes.Of<T>(), shape, ownsBuffer: true);
    }

    /// <summary>Copies raw little-endian element bytes into a new tensor of any dtype (bfloat16, float8, ...).</summary>
    public static BufferView FromBytes(DType dtype, ReadOnlySpan<byte> bytes, params long[] shape)
    {
        var view = Allocate(dtype, (long[])shape.Clone());
        if (bytes.Length != view.ByteLength)
            throw new KilnRuntimeException(StatusCode.InvalidArgument, $"{bytes.Length} bytes cannot be a {dtype.Name()} tensor of shape {FormatShape(shape)}");
        bytes.CopyTo(view.Bytes);
        return view;
    }

    /// <summary>The tensor's raw bytes.</summary>
    public Span<byte> Bytes => new(Buffer.Pointer + Offset, checked((int)ByteLength));

    /// <summary>A new zeroed tensor in GC-owned pinned memory.</summary>
    public static BufferView Allocate(DType dtype, params long[] shape)
    {
        long bytes = CheckedCount(shape) * dtype.Size();
        return new BufferView(DeviceBuffer.AllocateManaged(bytes), 0, dtype, shape, ownsBuffer: true);
    }

    public Span<T> AsSpan<T>() where T : unmanaged
    {
        if (DTypes.Of<T>().Size() != DType.Size() || (DTypes.Of<T>() != DType && !(typeof(T) == typeof(byte) || typeof(T) == typeof(sbyte))))
            throw new KilnRuntimeException(StatusCode.InvalidArgument, $"a {DType.Name()} tensor cannot be read as {typeof(T).Name}");
        return new Span<T>(Buffer.Pointer + Offset, checked((int)ElementCount));
    }

    public T[] ToArray<T>() where T : unmanaged => AsSpan<T>().ToArray();

    /// <summary>Copies the elements into a new System.Numerics.Tensors tensor.</summary>
    public Tensor<T> ToTensor<T>() where T : unmanaged =>
        Tensor.Create(ToArray<T>(), _shape.Select(d => checked((nint)d)).ToArray());

    public void Dispose()
    {
        if (_ownsBuffer) Buffer.Dispose();
    }

    public static string FormatShape(ReadOnlySpan<long> shape) => "[" + string.Join(",", shape.ToArray()) + "]";

    public override string ToString() => $"{DType.Name()}{FormatShape(_shape)}";
}
