using System.Runtime.InteropServices;
using Google.Protobuf;
using Kiln.Ir;
using Kiln.Onnx.Proto;

namespace Kiln.Onnx;

/// <summary>
/// Conversion between ONNX TensorProto and host tensors. Reading validates everything: the
/// element type code, every dimension, and that the payload (raw_data, a typed field, or an
/// external file) holds exactly the elements the dimensions promise, before anything large is
/// allocated. Sub-byte types (int4, uint4, int2, uint2, float4e2m1) are unpacked, low bits first.
/// </summary>
public static class OnnxTensors
{
    /// <summary>Where external tensor data may be read from: the model's folder (null: external data is refused).</summary>
    public sealed record ExternalDataRoot(string Directory);

    public static TensorData Read(TensorProto p, ExternalDataRoot? external = null, string what = "tensor")
    {
        string label = p.Name.Length > 0 ? $"{what} '{p.Name}'" : what;
        if (!ElementTypes.IsDefined(p.DataType))
            throw new KilnException(ErrorCode.InvalidModel, $"{label} has unknown data type code {p.DataType}");
        var type = (ElementType)p.DataType;
        var shape = p.Dims.ToArray();
        long count;
        try { count = TensorData.CheckedCount(shape); }
        catch (KilnException e) { throw new KilnException(e.Code, $"{label}: {e.Message}"); }

        if (p.DataLocation == TensorProto.Types.DataLocation.External)
            return FromRaw(label, type, shape, count, ReadExternal(p, external, label));
        if (!p.RawData.IsEmpty || HasNoTypedData(p) && count > 0 && type != ElementType.String)
            return FromRaw(label, type, shape, count, p.RawData.Span);
        return FromTypedFields(label, p, type, shape, count);
    }

    private static bool HasNoTypedData(TensorProto p) =>
        p.FloatData.Count == 0 && p.Int32Data.Count == 0 && p.Int64Data.Count == 0 && p.DoubleData.Count == 0
        && p.Uint64Data.Count == 0 && p.StringData.Count == 0;

    /// <summary>Bytes a packed payload of <paramref name="count"/> elements takes.</summary>
    public static long PackedSize(ElementType type, long count)
    {
        int bits = type.BitWidth();
        return bits >= 8 ? count * (bits / 8) : (count * bits + 7) / 8;
    }

    private static TensorData FromRaw(string label, ElementType type, long[] shape, long count, ReadOnlySpan<byte> raw)
    {
        if (type == ElementType.String)
            throw new KilnException(ErrorCode.InvalidModel, $"{label}: string tensors cannot use raw_data");
        long expected = PackedSize(type, count);
        if (raw.Length != expected)
            throw new KilnException(ErrorCode.InvalidModel, $"{label}: {type.OnnxName()}{TensorData.FormatShape(shape)} needs {expected} bytes of data, has {raw.Length}");
        int bits = type.BitWidth();
        if (bits >= 8) return TensorData.FromBytes(type, shape, raw);
        var t = TensorData.Zeros(type, shape);
        var dst = t.RawBytes();
        Unpack(raw, dst, bits, type.IsSignedInteger());
        return t;
    }

    /// <summary>Unpacks sub-byte elements (low bits first), sign-extending signed integer types.</summary>
    public static void Unpack(ReadOnlySpan<byte> packed, Span<byte> dst, int bits, bool signed)
    {
        int perByte = 8 / bits, mask = (1 << bits) - 1;
        for (int i = 0; i < dst.Length; i++)
        {
            int v = (packed[i / perByte] >> (i % perByte * bits)) & mask;
            if (signed && (v & (1 << (bits - 1))) != 0) v -= 1 << bits;
            dst[i] = unchecked((byte)v);
        }
    }

    /// <summary>Packs one-per-byte sub-byte elements into bytes, low bits first.</summary>
    public static byte[] Pack(ReadOnlySpan<byte> values, int bits)
    {
        int perByte = 8 / bits, mask = (1 << bits) - 1;
        var packed = new byte[(values.Length * bits + 7) / 8];
        for (int i = 0; i < values.Length; i++) packed[i / perByte] |= (byte)((values[i] & mask) << (i % perByte * bits));
        return packed;
    }

    private static TensorData FromTypedFields(string label, TensorProto p, ElementType type, long[] shape, long count)
    {
        void Expect(long have, long want, string field)
        {
            if (have != want)
                throw new KilnException(ErrorCode.InvalidModel, $"{label}: {type.OnnxName()}{TensorData.FormatShape(shape)} needs {want} values in {field}, has {have}");
        }

        var t = TensorData.Zeros(type, shape);
        switch (type)
        {
            case ElementType.Float32:
                Expect(p.FloatData.Count, count, "float_data");
                p.FloatData.CopyTo(t.Data<float>(), 0);
                break;
            case ElementType.Complex64:
                Expect(p.FloatData.Count, count * 2, "float_data");
                p.FloatData.CopyTo(t.Data<float>(), 0);
                break;
            case ElementType.Float64:
                Expect(p.DoubleData.Count, count, "double_data");
                p.DoubleData.CopyTo(t.Data<double>(), 0);
                break;
            case ElementType.Complex128:
                Expect(p.DoubleData.Count, count * 2, "double_data");
                p.DoubleData.CopyTo(t.Data<double>(), 0);
                break;
            case ElementType.Int64:
                Expect(p.Int64Data.Count, count, "int64_data");
                p.Int64Data.CopyTo(t.Data<long>(), 0);
                break;
            case ElementType.UInt64:
                Expect(p.Uint64Data.Count, count, "uint64_data");
                p.Uint64Data.CopyTo(t.Data<ulong>(), 0);
                break;
            case ElementType.UInt32:
                Expect(p.Uint64Data.Count, count, "uint64_data");
                for (int i = 0; i < count; i++) t.Data<uint>()[i] = unchecked((uint)p.Uint64Data[i]);
                break;
            case ElementType.String:
                Expect(p.StringData.Count, count, "string_data");
                for (int i = 0; i < count; i++) t.Data<string>()[i] = p.StringData[i].ToStringUtf8();
                break;
            case ElementType.Int4 or ElementType.UInt4 or ElementType.Float4E2M1 or ElementType.Int2 or ElementType.UInt2:
            {
                // int32_data holds the packed bytes, one per value.
                long bytes = PackedSize(type, count);
                Expect(p.Int32Data.Count, bytes, "int32_data");
                var packed = p.Int32Data.Select(v => unchecked((byte)v)).ToArray();
                Unpack(packed, t.RawBytes(), type.BitWidth(), type.IsSignedInteger());
                break;
            }
            default:
                // int32_data holds each element (bit patterns for f16, bf16 and float8).
                Expect(p.Int32Data.Count, count, "int32_data");
                var raw = t.RawBytes();
                int size = type.StorageSize();
                for (int i = 0; i < count; i++)
                {
                    int v = p.Int32Data[i];
                    if (type == ElementType.Bool) raw[i] = v != 0 ? (byte)1 : (byte)0;
                    else for (int b = 0; b < size; b++) raw[i * size + b] = unchecked((byte)(v >> (8 * b)));
                }
                break;
        }
        return t;
    }

    private static ReadOnlySpan<byte> ReadExternal(TensorProto p, ExternalDataRoot? root, string label)
    {
        if (root is null) throw new KilnException(ErrorCode.InvalidModel, $"{label}: external data is not available when a model is loaded from memory");
        string? location = null;
        long offset = 0, length = -1;
        foreach (var kv in p.ExternalData)
        {
            switch (kv.Key)
            {
                case "location": location = kv.Value; break;
                case "offset": if (!long.TryParse(kv.Value, out offset) || offset < 0) throw new KilnException(ErrorCode.InvalidModel, $"{label}: bad external data offset '{kv.Value}'"); break;
                case "length": if (!long.TryParse(kv.Value, out length) || length < 0) throw new KilnException(ErrorCode.InvalidModel, $"{label}: bad external data length '{kv.Value}'"); break;
            }
        }
        if (string.IsNullOrEmpty(location)) throw new KilnException(ErrorCode.InvalidModel, $"{label}: external data has no location");
        if (Path.IsPathRooted(location) || location.Split('/', '\\').Contains(".."))
            throw new KilnException(ErrorCode.InvalidModel, $"{label}: external data location '{location}' must be a relative path inside the model's folder");
        string path = Path.Combine(root.Directory, location);
        try
        {
            using var f = File.OpenRead(path);
            long available = f.Length - offset;
            if (offset > f.Length) throw new KilnException(ErrorCode.InvalidModel, $"{label}: external data offset {offset} is past the end of '{location}' ({f.Length} bytes)");
            long n = length >= 0 ? length : available;
            if (n > available) throw new KilnException(ErrorCode.InvalidModel, $"{label}: external data wants {n} bytes at offset {offset} of '{location}', which has {f.Length}");
            if (n > TensorData.MaxElements) throw new KilnException(ErrorCode.TooLarge, $"{label}: external data of {n} bytes is too large");
            var buf = new byte[n];
            f.Seek(offset, SeekOrigin.Begin);
            f.ReadExactly(buf);
            return buf;
        }
        catch (IOException e) { throw new KilnException(ErrorCode.Io, $"{label}: cannot read external data '{location}': {e.Message}", e); }
        catch (UnauthorizedAccessException e) { throw new KilnException(ErrorCode.Io, $"{label}: cannot read external data '{location}': {e.Message}", e); }
    }

    /// <summary>Writes a host tensor as a TensorProto with raw_data (strings in string_data).</summary>
    public static TensorProto Write(TensorData t, string name = "")
    {
        var p = new TensorProto { DataType = (int)t.ElementType, Name = name };
        p.Dims.AddRange(t.Shape);
        if (t.ElementType == ElementType.String)
            foreach (var s in t.Data<string>()) p.StringData.Add(ByteString.CopyFromUtf8(s));
        else if (t.ElementType.BitWidth() < 8)
            p.RawData = ByteString.CopyFrom(Pack(t.AsBytes(), t.ElementType.BitWidth()));
        else
            p.RawData = ByteString.CopyFrom(t.AsBytes());
        return p;
    }

    /// <summary>Reads a serialized TensorProto (a test-data .pb file).</summary>
    public static TensorData Parse(ReadOnlySpan<byte> bytes, string what = "tensor") =>
        Read(OnnxProtobuf.Parse(TensorProto.Parser, bytes, what), null, what);

    internal static ReadOnlySpan<byte> AsBytes<T>(T[] a) where T : struct => MemoryMarshal.AsBytes(a.AsSpan());
}
