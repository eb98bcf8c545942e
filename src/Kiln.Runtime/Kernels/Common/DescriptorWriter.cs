using System.Buffers.Binary;

namespace Kiln.Runtime.Kernels;

/// <summary>
/// Writes a kernel descriptor (little-endian), the counterpart of <see cref="DescriptorReader"/>:
/// each kernel family encodes its descriptor with this writer next to the decoder that reads it,
/// so the format is defined once, in the runtime. Not thread-safe.
/// </summary>
public sealed class DescriptorWriter
{
    private readonly List<byte> _bytes = [];

    public DescriptorWriter U8(int v) { _bytes.Add(checked((byte)v)); return this; }

    public DescriptorWriter U16(int v)
    {
        Span<byte> s = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(s, checked((ushort)v));
        _bytes.AddRange(s);
        return this;
    }

    public DescriptorWriter I64(long v)
    {
        Span<byte> s = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(s, v);
        _bytes.AddRange(s);
        return this;
    }

    public byte[] ToArray() => _bytes.ToArray();
}
