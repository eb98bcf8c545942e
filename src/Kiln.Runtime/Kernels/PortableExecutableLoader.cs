using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels;

/// <summary>Builds a kernel from its descriptor; throws InvalidModule when the descriptor is malformed.</summary>
public delegate Kernel KernelFactory(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount);

/// <summary>
/// Loads "portable" executables: each kernel record names a prebuilt kernel family of this
/// library, parameterized by its descriptor. No code is generated, so it runs everywhere
/// (NativeAOT included). It also loads "il" executables, whose kernels are elementwise programs
/// with the same descriptors (it interprets them), for where the IL loader cannot run. The family
/// table belongs to the loader instance, not to the process.
/// </summary>
public sealed class PortableExecutableLoader : ExecutableLoader
{
    public const string FormatName = "portable";

    private readonly Dictionary<string, KernelFactory> _families = new(StringComparer.Ordinal);

    public PortableExecutableLoader()
    {
        foreach (var (name, factory) in KernelLibrary.Families()) _families[name] = factory;
    }

    /// <summary>Adds or replaces a kernel family (for applications with their own kernels).</summary>
    public void Register(string name, KernelFactory factory) => _families[name] = factory;

    public override bool CanLoad(string format) => format is FormatName or IlFormatName;

    /// <summary>The format of executables rendered to IL at load (see Kernels/Il/IlExecutableLoader).</summary>
    public const string IlFormatName = "il";

    public override Kernel LoadKernel(string name, ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount, ulong contentHash)
    {
        if (!_families.TryGetValue(name, out var factory))
            throw new KilnRuntimeException(StatusCode.Unsupported, $"the portable kernel library has no kernel '{name}'");
        return factory(descriptor, bindingCount, constantCount);
    }
}

/// <summary>
/// Reads a kernel descriptor with every read bounds-checked; malformed descriptors become
/// InvalidModule errors at load, never out-of-range reads.
/// </summary>
public ref struct DescriptorReader(ReadOnlySpan<byte> data, string kernel)
{
    private readonly ReadOnlySpan<byte> _data = data;
    private int _pos;

    public readonly bool AtEnd => _pos == _data.Length;
    public readonly int Position => _pos;

    public byte U8() { Need(1); return _data[_pos++]; }
    public ushort U16() { Need(2); var v = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(_data[_pos..]); _pos += 2; return v; }
    public uint U32() { Need(4); var v = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(_data[_pos..]); _pos += 4; return v; }
    public long I64() { Need(8); var v = System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(_data[_pos..]); _pos += 8; return v; }
    public ReadOnlySpan<byte> Bytes(int n) { Need(n); var s = _data.Slice(_pos, n); _pos += n; return s; }

    public readonly KilnRuntimeException Invalid(string message) => new(StatusCode.InvalidModule, $"kernel '{kernel}': {message}");

    public readonly void ExpectEnd()
    {
        if (!AtEnd) throw Invalid($"{_data.Length - _pos} unexpected bytes after the descriptor");
    }

    private readonly void Need(int n)
    {
        if (_pos + n > _data.Length) throw Invalid("descriptor is truncated");
    }
}
