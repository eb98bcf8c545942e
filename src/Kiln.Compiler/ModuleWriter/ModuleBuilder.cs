using System.Runtime.InteropServices;
using System.Text;
using Kiln.Runtime;
using Kiln.Runtime.Format;

namespace Kiln.Compiler.ModuleWriter;

/// <summary>A tensor parameter of an exported function's signature.</summary>
/// <summary>A parameter of a signature; Dims null for a sequence or optional of tensors of any rank.</summary>
public sealed record SignatureParameter(string Name, DType DType, IReadOnlyList<(long Size, string? Symbol)>? Dims, ParameterKind Kind = ParameterKind.Tensor);

/// <summary>
/// Assembles a .kiln module: strings, constant string lists, functions, imports, exports, executables and their kernels,
/// constant segments, globals and signatures, written in the layout <see cref="ModuleFormat"/>
/// defines. Constant data is written last, each segment 64-byte aligned, and is not checksummed,
/// so the runtime can load a module without touching its weights. Not thread-safe.
/// </summary>
public sealed class ModuleBuilder
{
    private readonly List<byte> _strings = [];
    private readonly Dictionary<string, StringRef> _stringIndex = new(StringComparer.Ordinal);
    private readonly List<FunctionRecord> _functions = [];
    private readonly List<byte> _bytecode = [];
    private readonly List<ImportRecord> _imports = [];
    private readonly Dictionary<string, int> _importIndex = new(StringComparer.Ordinal);
    private readonly List<ExportRecord> _exports = [];
    private readonly List<(string Format, List<(string Name, byte[] Descriptor, int Bindings, int Constants)> Kernels)> _executables = [];
    private readonly List<ReadOnlyMemory<byte>> _segments = [];
    private readonly List<SignatureRecord> _signatures = [];
    private readonly List<ParameterRecord> _parameters = [];
    private readonly List<DimRecord> _dims = [];
    private readonly List<StringListRecord> _stringLists = [];
    private readonly List<StringRef> _stringListItems = [];
    private GlobalsRecord? _globals;

    public CpuFeatures RequiredFeatures { get; set; }

    public StringRef String(string s)
    {
        if (_stringIndex.TryGetValue(s, out var r)) return r;
        var bytes = Encoding.UTF8.GetBytes(s);
        r = new StringRef { Offset = (uint)_strings.Count, Length = (uint)bytes.Length };
        _strings.AddRange(bytes);
        _stringIndex[s] = r;
        return r;
    }

    public BytecodeBuilder NewCode() => new(String);

    /// <summary>Declares (once per name) a native import such as "hal.dispatch".</summary>
    public int Import(string name, int valueArgs, int refArgs, int valueResults, int refResults, ImportFlags flags = ImportFlags.None)
    {
        if (_importIndex.TryGetValue(name, out int i)) return i;
        _imports.Add(new ImportRecord
        {
            Name = String(name), ValueArgs = (ushort)valueArgs, RefArgs = (ushort)refArgs,
            ValueResults = (ushort)valueResults, RefResults = (ushort)refResults, Flags = (uint)flags,
        });
        return _importIndex[name] = _imports.Count - 1;
    }

    /// <summary>Reserves a function index (so calls can be emitted before the body exists).</summary>
    public int DeclareFunction(string name)
    {
        _functions.Add(new FunctionRecord { Name = String(name) });
        return _functions.Count - 1;
    }

    public void DefineFunction(int index, BytecodeBuilder code, int valueArgs, int refArgs, int valueResults, int refResults)
    {
        var bytes = code.Finish();
        while (_bytecode.Count % 8 != 0) _bytecode.Add(0);
        _functions[index] = _functions[index] with
        {
            CodeOffset = (uint)_bytecode.Count, CodeLength = (uint)bytes.Length,
            ValueRegisters = (ushort)code.ValueRegisters, RefRegisters = (ushort)code.RefRegisters,
            ValueArgs = (ushort)valueArgs, RefArgs = (ushort)refArgs, ValueResults = (ushort)valueResults, RefResults = (ushort)refResults,
        };
        _bytecode.AddRange(bytes);
    }

    public int AddFunction(string name, BytecodeBuilder code, int valueArgs, int refArgs, int valueResults, int refResults)
    {
        int i = DeclareFunction(name);
        DefineFunction(i, code, valueArgs, refArgs, valueResults, refResults);
        return i;
    }

    public void Export(string name, int function, int signature = -1) =>
        _exports.Add(new ExportRecord { Name = String(name), Function = (uint)function, Signature = signature < 0 ? uint.MaxValue : (uint)signature });

    public int AddExecutable(string format)
    {
        _executables.Add((format, []));
        return _executables.Count - 1;
    }

    /// <summary>Adds a kernel to an executable's export table; returns its ordinal.</summary>
    public int AddKernel(int executable, string name, byte[] descriptor, int bindingCount, int constantCount)
    {
        var kernels = _executables[executable].Kernels;
        kernels.Add((name, descriptor, bindingCount, constantCount));
        return kernels.Count - 1;
    }

    public int KernelCount(int executable) => _executables[executable].Kernels.Count;

    /// <summary>Adds a constant segment (kept by reference until writing).</summary>
    public int AddSegment(ReadOnlyMemory<byte> data)
    {
        _segments.Add(data);
        return _segments.Count - 1;
    }

    public void SetGlobals(int valueCount, int refCount, int initializer = -1) =>
        _globals = new GlobalsRecord { ValueCount = (uint)valueCount, RefCount = (uint)refCount, Initializer = initializer < 0 ? uint.MaxValue : (uint)initializer };

    /// <summary>Adds a constant list of strings (a string tensor's elements, a pattern, stopwords); returns its index.</summary>
    public int AddStringList(IReadOnlyList<string> items)
    {
        _stringLists.Add(new StringListRecord { FirstItem = (uint)_stringListItems.Count, Count = (uint)items.Count });
        foreach (var item in items) _stringListItems.Add(String(item));
        return _stringLists.Count - 1;
    }

    public int AddSignature(IReadOnlyList<SignatureParameter> inputs, IReadOnlyList<SignatureParameter> outputs)
    {
        var sig = new SignatureRecord { FirstParameter = (uint)_parameters.Count, InputCount = (ushort)inputs.Count, OutputCount = (ushort)outputs.Count };
        foreach (var p in inputs.Concat(outputs))
        {
            _parameters.Add(new ParameterRecord { Name = String(p.Name), DType = (byte)p.DType, Rank = p.Dims is null ? ModuleFormat.AnyRank : (byte)p.Dims.Count, Kind = (byte)p.Kind, FirstDim = (uint)_dims.Count });
            foreach (var (size, symbol) in p.Dims ?? [])
                _dims.Add(symbol is null ? new DimRecord { Size = size } : new DimRecord { Size = -1, Symbol = String(symbol) });
        }
        _signatures.Add(sig);
        return _signatures.Count - 1;
    }

    /// <summary>FNV-1a over a kernel's name and descriptor: identical kernels get identical hashes.</summary>
    public static ulong ContentHash(string name, ReadOnlySpan<byte> descriptor)
    {
        ulong h = 14695981039346656037;
        foreach (byte b in Encoding.UTF8.GetBytes(name)) h = (h ^ b) * 1099511628211;
        h = (h ^ 0xFF) * 1099511628211;
        foreach (byte b in descriptor) h = (h ^ b) * 1099511628211;
        return h == 0 ? 1 : h;
    }

    public byte[] ToArray()
    {
        using var ms = new MemoryStream();
        WriteTo(ms);
        return ms.ToArray();
    }

    public void WriteTo(Stream output)
    {
        // Metadata sections, in a fixed order.
        var kernelRecords = new List<KernelRecord>();
        var kernelData = new List<byte>();
        var executables = new List<ExecutableRecord>();
        foreach (var (format, kernels) in _executables)
        {
            executables.Add(new ExecutableRecord { Format = String(format), FirstKernel = (uint)kernelRecords.Count, KernelCount = (uint)kernels.Count });
            foreach (var (name, descriptor, bindings, constants) in kernels)
            {
                while (kernelData.Count % 8 != 0) kernelData.Add(0);
                kernelRecords.Add(new KernelRecord
                {
                    Name = String(name), DataOffset = (uint)kernelData.Count, DataLength = (uint)descriptor.Length,
                    BindingCount = (uint)bindings, ConstantCount = (uint)constants, ContentHash = ContentHash(name, descriptor),
                });
                kernelData.AddRange(descriptor);
            }
        }
        var sections = new List<(SectionKind Kind, byte[] Data)>
        {
            (SectionKind.Strings, _strings.ToArray()),
            (SectionKind.Functions, Records(_functions)),
            (SectionKind.Imports, Records(_imports)),
            (SectionKind.Exports, Records(_exports)),
            (SectionKind.Executables, Records(executables)),
            (SectionKind.Kernels, Records(kernelRecords)),
            (SectionKind.KernelData, kernelData.ToArray()),
            (SectionKind.Bytecode, _bytecode.ToArray()),
            (SectionKind.Signatures, Records(_signatures)),
            (SectionKind.Parameters, Records(_parameters)),
            (SectionKind.Dims, Records(_dims)),
        };
        if (_stringLists.Count > 0)
        {
            sections.Add((SectionKind.StringLists, Records(_stringLists)));
            sections.Add((SectionKind.StringListItems, Records(_stringListItems)));
        }
        if (_globals is { } g) sections.Add((SectionKind.Globals, Records([g])));

        int sectionCount = sections.Count + 2; // + Segments + ConstantData
        int tableOffset = ModuleFormat.HeaderSize;
        long pos = tableOffset + sectionCount * Marshal.SizeOf<SectionEntry>();
        var entries = new List<SectionEntry>();
        var offsets = new List<long>();
        foreach (var (kind, data) in sections)
        {
            pos = Align(pos, 8);
            offsets.Add(pos);
            entries.Add(new SectionEntry { Kind = kind, Offset = (ulong)pos, Length = (ulong)data.Length });
            pos += data.Length;
        }
        // Segment table (metadata), then constant data (not checksummed).
        long segmentTableOffset = Align(pos, 8);
        long segmentTableLength = _segments.Count * Marshal.SizeOf<SegmentRecord>();
        long metadataEnd = segmentTableOffset + segmentTableLength;
        long dataStart = Align(metadataEnd, ModuleFormat.ConstantAlignment);
        var segmentRecords = new List<SegmentRecord>();
        long dataPos = dataStart;
        foreach (var s in _segments)
        {
            dataPos = Align(dataPos, ModuleFormat.ConstantAlignment);
            segmentRecords.Add(new SegmentRecord { Offset = (ulong)dataPos, Length = (ulong)s.Length });
            dataPos += s.Length;
        }
        long fileSize = Math.Max(dataPos, dataStart);
        entries.Add(new SectionEntry { Kind = SectionKind.Segments, Offset = (ulong)segmentTableOffset, Length = (ulong)segmentTableLength });
        entries.Add(new SectionEntry { Kind = SectionKind.ConstantData, Offset = (ulong)dataStart, Length = (ulong)(fileSize - dataStart) });

        // Metadata bytes [tableOffset, metadataEnd) — checksummed.
        var meta = new byte[metadataEnd - tableOffset];
        var table = Records(entries);
        table.CopyTo(meta, 0);
        for (int i = 0; i < sections.Count; i++) sections[i].Data.CopyTo(meta, offsets[i] - tableOffset);
        Records(segmentRecords).CopyTo(meta, segmentTableOffset - tableOffset);

        var header = new ModuleHeader
        {
            Magic = BitConverter.ToUInt64(ModuleFormat.Magic),
            Version = ModuleFormat.Version,
            HeaderSize = ModuleFormat.HeaderSize,
            FileSize = (ulong)fileSize,
            RequiredFeatures = (ulong)RequiredFeatures,
            SectionCount = (uint)entries.Count,
            SectionTableOffset = (uint)tableOffset,
            MetadataChecksum = Crc32.Compute(meta),
            MetadataEnd = (uint)metadataEnd,
        };
        var headerBytes = new byte[ModuleFormat.HeaderSize];
        MemoryMarshal.Write(headerBytes, in header);
        output.Write(headerBytes);
        output.Write(meta);
        long written = metadataEnd;
        foreach (var (s, rec) in _segments.Zip(segmentRecords))
        {
            Pad(output, (long)rec.Offset - written);
            output.Write(s.Span);
            written = (long)rec.Offset + s.Length;
        }
        Pad(output, fileSize - written);
    }

    private static void Pad(Stream s, long n)
    {
        if (n > 0) s.Write(new byte[n]);
    }

    private static long Align(long x, int a) => (x + a - 1) / a * a;

    private static byte[] Records<T>(List<T> items) where T : unmanaged => MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(items)).ToArray();
}
