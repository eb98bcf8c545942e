using System.Runtime.CompilerServices;
using System.Text;
using Kiln.Runtime.Format;
using Kiln.Runtime.Vm;

namespace Kiln.Runtime;

/// <summary>
/// A loaded, verified module: read-only tables over the module's bytes, used in place. Loading
/// checks the header, every table entry and every bytecode instruction once; afterwards the
/// tables are read without further checks. Loading never writes to the bytes and never touches
/// the constant data, so its cost depends on the size of the tables, not of the weights.
/// Ownership: the module owns its <see cref="ModuleMemory"/> and releases it on Dispose; contexts
/// created from it must be disposed first. Thread-safe: immutable after load.
/// </summary>
public sealed unsafe class Module : IDisposable
{
    private readonly ModuleMemory _memory;
    private readonly byte* _base;
    private readonly SectionEntry[] _sections = new SectionEntry[ModuleFormat.MaxSectionKind + 1];
    private readonly string[] _functionNames;
    private readonly Dictionary<string, int> _exports;

    public ModuleHeader Header { get; }

    private Module(ModuleMemory memory)
    {
        _memory = memory;
        _base = memory.Pointer;
        Header = ModuleVerifier.VerifyHeaderAndSections(memory, _sections);
        ModuleVerifier.VerifyTables(this);
        _functionNames = new string[FunctionCount];
        for (int i = 0; i < FunctionCount; i++) _functionNames[i] = String(Function(i).Name);
        _exports = new Dictionary<string, int>(ExportCount, StringComparer.Ordinal);
        for (int i = 0; i < ExportCount; i++)
            if (!_exports.TryAdd(String(Export(i).Name), i))
                throw ModuleVerifier.Invalid($"export '{String(Export(i).Name)}' is listed twice");
        BytecodeVerifier.Verify(this);
    }

    /// <summary>Maps a module file read-only and verifies it.</summary>
    public static Module Load(string path) => Load(ModuleMemory.MapFile(path));

    /// <summary>Verifies a module held in caller memory (pinned, not copied).</summary>
    public static Module Load(ReadOnlyMemory<byte> bytes) => Load(ModuleMemory.FromMemory(bytes));

    /// <summary>Verifies a module in the given memory; the module takes ownership of it.</summary>
    public static Module Load(ModuleMemory memory)
    {
        try { return new Module(memory); }
        catch { memory.Dispose(); throw; }
    }

    public void Dispose() => _memory.Dispose();

    // ---- sections and records (bounds were checked at load)

    internal SectionEntry Section(SectionKind kind) => _sections[(int)kind];
    internal bool HasSection(SectionKind kind) => _sections[(int)kind].Kind == kind;

    internal int Count<T>(SectionKind kind) where T : unmanaged => (int)(_sections[(int)kind].Length / (ulong)sizeof(T));

    internal T Record<T>(SectionKind kind, int index) where T : unmanaged =>
        Unsafe.ReadUnaligned<T>(_base + _sections[(int)kind].Offset + (ulong)index * (ulong)sizeof(T));

    public int FunctionCount => Count<FunctionRecord>(SectionKind.Functions);
    public int ImportCount => Count<ImportRecord>(SectionKind.Imports);
    public int ExportCount => Count<ExportRecord>(SectionKind.Exports);
    public int ExecutableCount => Count<ExecutableRecord>(SectionKind.Executables);
    public int KernelCount => Count<KernelRecord>(SectionKind.Kernels);
    public int SegmentCount => Count<SegmentRecord>(SectionKind.Segments);

    public FunctionRecord Function(int i) => Record<FunctionRecord>(SectionKind.Functions, i);
    public ImportRecord Import(int i) => Record<ImportRecord>(SectionKind.Imports, i);
    public ExportRecord Export(int i) => Record<ExportRecord>(SectionKind.Exports, i);
    public ExecutableRecord Executable(int i) => Record<ExecutableRecord>(SectionKind.Executables, i);
    public KernelRecord Kernel(int i) => Record<KernelRecord>(SectionKind.Kernels, i);
    public SegmentRecord Segment(int i) => Record<SegmentRecord>(SectionKind.Segments, i);
    public GlobalsRecord Globals => HasSection(SectionKind.Globals) ? Record<GlobalsRecord>(SectionKind.Globals, 0)
        : new GlobalsRecord { Initializer = uint.MaxValue };
    public SignatureRecord Signature(int i) => Record<SignatureRecord>(SectionKind.Signatures, i);
    public ParameterRecord Parameter(int i) => Record<ParameterRecord>(SectionKind.Parameters, i);
    public DimRecord Dim(int i) => Record<DimRecord>(SectionKind.Dims, i);
    public int SignatureCount => Count<SignatureRecord>(SectionKind.Signatures);
    public int ParameterCount => Count<ParameterRecord>(SectionKind.Parameters);
    public int DimCount => Count<DimRecord>(SectionKind.Dims);
    public int StringListCount => Count<StringListRecord>(SectionKind.StringLists);
    public int StringListItemCount => Count<StringRef>(SectionKind.StringListItems);
    public StringListRecord StringListRecord(int i) => Record<StringListRecord>(SectionKind.StringLists, i);

    /// <summary>The strings of constant list <paramref name="list"/>, decoded (ranges and UTF-8 were checked at load).</summary>
    public string[] StringList(int list)
    {
        var r = StringListRecord(list);
        var items = new string[r.Count];
        for (int i = 0; i < items.Length; i++) items[i] = String(Record<StringRef>(SectionKind.StringListItems, (int)r.FirstItem + i));
        return items;
    }

    public string String(StringRef s) => Encoding.UTF8.GetString(_base + Section(SectionKind.Strings).Offset + s.Offset, (int)s.Length);

    public string FunctionName(int i) => _functionNames[i];

    /// <summary>The export index of a name, or -1.</summary>
    public int FindExport(string name) => _exports.TryGetValue(name, out int i) ? i : -1;

    public IEnumerable<string> ExportNames => _exports.Keys;

    /// <summary>The bytecode of a function (verified).</summary>
    internal byte* Code(int function, out int length)
    {
        var f = Function(function);
        length = (int)f.CodeLength;
        return _base + Section(SectionKind.Bytecode).Offset + f.CodeOffset;
    }

    /// <summary>A function's verified bytecode (for disassembly).</summary>
    public ReadOnlySpan<byte> FunctionCode(int function) => new(Code(function, out int length), length);

    /// <summary>A constant segment's bytes, in place.</summary>
    public byte* SegmentPointer(int segment, out long length)
    {
        var s = Segment(segment);
        length = (long)s.Length;
        return _base + s.Offset;
    }

    /// <summary>Where a constant segment lies in the file.</summary>
    public void SegmentPointerInfo(int segment, out long fileOffset, out long length)
    {
        var s = Segment(segment);
        fileOffset = (long)s.Offset;
        length = (long)s.Length;
    }

    /// <summary>A kernel's descriptor bytes, in place.</summary>
    public ReadOnlySpan<byte> KernelData(int kernel)
    {
        var k = Kernel(kernel);
        return new ReadOnlySpan<byte>(_base + Section(SectionKind.KernelData).Offset + k.DataOffset, (int)k.DataLength);
    }

    /// <summary>Total bytes of constant data (for reporting).</summary>
    public long ConstantBytes => HasSection(SectionKind.ConstantData) ? (long)Section(SectionKind.ConstantData).Length : 0;

    public long FileSize => _memory.Length;

    internal byte* Base => _base;
}
