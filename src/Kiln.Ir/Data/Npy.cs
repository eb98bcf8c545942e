using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Kiln.Ir;

/// <summary>
/// NumPy .npy files (format versions 1, 2 and 3): the tensor format of Kiln's tools and of the
/// reference data. Reads little- and big-endian numeric and bool arrays in C order; writes
/// little-endian. Malformed files are <see cref="ErrorCode.InvalidData"/> errors that say why.
/// </summary>
public static partial class Npy
{
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static TensorData Read(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new KilnException(ErrorCode.Io, $"cannot read '{path}': {e.Message}", e);
        }
        try { return Read(bytes); }
        catch (KilnException e) { throw new KilnException(e.Code, $"'{path}': {e.Message}", e); }
    }

    public static TensorData Read(ReadOnlySpan<byte> file)
    {
        if (file.Length < 10 || !file[..6].SequenceEqual(Magic)) throw Bad("not a .npy file (bad magic)");
        int major = file[6];
        int headerLength, headerStart;
        switch (major)
        {
            case 1: headerLength = BinaryPrimitives.ReadUInt16LittleEndian(file[8..]); headerStart = 10; break;
            case 2 or 3:
                if (file.Length < 12) throw Bad("truncated header");
                uint len = BinaryPrimitives.ReadUInt32LittleEndian(file[8..]);
                if (len > int.MaxValue) throw Bad("header too long");
                headerLength = (int)len; headerStart = 12; break;
            default: throw Bad($"unsupported format version {major}");
        }
        if ((long)headerStart + headerLength > file.Length) throw Bad("truncated header");
        string header = Encoding.Latin1.GetString(file.Slice(headerStart, headerLength));

        string descr = Field(DescrPattern(), header, "descr");
        string fortran = Field(FortranPattern(), header, "fortran_order");
        string shapeText = Field(ShapePattern(), header, "shape");
        if (fortran != "False") throw Bad("Fortran-order arrays are not supported");

        var shape = shapeText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long d) ? d : throw Bad($"bad dimension '{s}'"))
            .ToArray();
        if (descr.Length < 3) throw Bad($"unsupported dtype '{descr}'");
        char order = descr[0];
        var type = descr[1..] switch
        {
            "f4" => ElementType.Float32,
            "f8" => ElementType.Float64,
            "f2" => ElementType.Float16,
            "i1" => ElementType.Int8,
            "u1" => ElementType.UInt8,
            "i2" => ElementType.Int16,
            "u2" => ElementType.UInt16,
            "i4" => ElementType.Int32,
            "u4" => ElementType.UInt32,
            "i8" => ElementType.Int64,
            "u8" => ElementType.UInt64,
            "b1" => ElementType.Bool,
            _ => throw Bad($"unsupported dtype '{descr}'"),
        };
        long count = TensorData.CheckedCount(shape);
        int size = type.StorageSize();
        var data = file[(headerStart + headerLength)..];
        if (data.Length != count * size)
            throw Bad($"{type.OnnxName()}{TensorData.FormatShape(shape)} needs {count * size} data bytes, the file has {data.Length}");
        if (order == '>' && size > 1)
        {
            var swapped = data.ToArray();
            for (int i = 0; i < swapped.Length; i += size) swapped.AsSpan(i, size).Reverse();
            return TensorData.FromBytes(type, shape, swapped);
        }
        if (order is not ('<' or '|' or '=' or '>')) throw Bad($"unsupported byte order in dtype '{descr}'");
        return TensorData.FromBytes(type, shape, data);
    }

    public static void Write(string path, TensorData t)
    {
        try { File.WriteAllBytes(path, Write(t)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new KilnException(ErrorCode.Io, $"cannot write '{path}': {e.Message}", e);
        }
    }

    public static byte[] Write(TensorData t)
    {
        string descr = t.ElementType switch
        {
            ElementType.Float32 => "<f4",
            ElementType.Float64 => "<f8",
            ElementType.Float16 => "<f2",
            ElementType.Int8 => "|i1",
            ElementType.UInt8 => "|u1",
            ElementType.Int16 => "<i2",
            ElementType.UInt16 => "<u2",
            ElementType.Int32 => "<i4",
            ElementType.UInt32 => "<u4",
            ElementType.Int64 => "<i8",
            ElementType.UInt64 => "<u8",
            ElementType.Bool => "|b1",
            _ => throw new KilnException(ErrorCode.Unsupported, $"{t.ElementType.OnnxName()} tensors cannot be written as .npy"),
        };
        string shape = t.Rank == 1 ? $"({t.Shape[0]},)" : "(" + string.Join(", ", t.Shape) + ")";
        string dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}";
        // Pad so the data starts on a 64-byte boundary; the header ends with a newline.
        int total = 10 + dict.Length + 1;
        int pad = (64 - total % 64) % 64;
        string header = dict + new string(' ', pad) + "\n";
        var data = t.AsBytes();
        var result = new byte[10 + header.Length + data.Length];
        Magic.CopyTo(result);
        result[6] = 1;
        result[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(result.AsSpan(8), (ushort)header.Length);
        Encoding.Latin1.GetBytes(header, result.AsSpan(10));
        data.CopyTo(result.AsSpan(10 + header.Length));
        return result;
    }

    /// <summary>
    /// The file name for a tensor named <paramref name="name"/>: characters other than letters,
    /// digits, '.', '_' and '-' become '_', then ".npy" (the convention of the reference data).
    /// </summary>
    public static string FileNameFor(string name)
    {
        var sb = new StringBuilder(name.Length + 4);
        foreach (char c in name) sb.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_');
        return sb.Append(".npy").ToString();
    }

    private static string Field(Regex pattern, string header, string name)
    {
        var m = pattern.Match(header);
        return m.Success ? m.Groups[1].Value : throw Bad($"header has no '{name}' field");
    }

    private static KilnException Bad(string message) => new(ErrorCode.InvalidData, $"malformed .npy: {message}");

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex DescrPattern();

    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranPattern();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();
}
