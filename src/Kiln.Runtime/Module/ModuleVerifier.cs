using System.Runtime.CompilerServices;
using System.Text;
using Kiln.Runtime.Format;

namespace Kiln.Runtime;

/// <summary>
/// Structural verification of a module at load: header, section table, and every entry of every
/// table (offsets, lengths, indices, counts, strings). Bytecode is checked by
/// <see cref="Vm.BytecodeVerifier"/>; kernel descriptors by their executable loaders.
/// Every failure is a <see cref="KilnRuntimeException"/> with <see cref="StatusCode.InvalidModule"/>.
/// </summary>
internal static unsafe class ModuleVerifier
{
    public static KilnRuntimeException Invalid(string message) => new(StatusCode.InvalidModule, $"invalid module: {message}");

    public static ModuleHeader VerifyHeaderAndSections(ModuleMemory memory, SectionEntry[] sections)
    {
        if (!BitConverter.IsLittleEndian) throw new KilnRuntimeException(StatusCode.Unsupported, "modules are little-endian; this machine is not");
        long length = memory.Length;
        if (length < ModuleFormat.HeaderSize) throw Invalid($"file of {length} bytes is shorter than the {ModuleFormat.HeaderSize}-byte header");
        var header = Unsafe.ReadUnaligned<ModuleHeader>(memory.Pointer);
        if (!memory.Span(0, 8).SequenceEqual(ModuleFormat.Magic)) throw Invalid("bad magic (not a .kiln module)");
        if (header.Version != ModuleFormat.Version) throw Invalid($"format version {header.Version} is not supported (this runtime reads version {ModuleFormat.Version})");
        if (header.HeaderSize != ModuleFormat.HeaderSize) throw Invalid($"header size {header.HeaderSize}, expected {ModuleFormat.HeaderSize}");
        if (header.FileSize != (ulong)length) throw Invalid($"header says the file has {header.FileSize} bytes, it has {length} (truncated or padded?)");
        var missing = (CpuFeatures)header.RequiredFeatures & ~CpuFeatureDetection.Current;
        if (missing != CpuFeatures.None)
            throw new KilnRuntimeException(StatusCode.Unsupported, $"the module needs CPU features this machine lacks: {missing}");
        if (header.SectionCount > ModuleFormat.MaxSections) throw Invalid($"{header.SectionCount} sections (at most {ModuleFormat.MaxSections})");
        ulong tableEnd = header.SectionTableOffset + (ulong)header.SectionCount * (ulong)sizeof(SectionEntry);
        if (header.SectionTableOffset < ModuleFormat.HeaderSize || tableEnd > (ulong)length) throw Invalid("section table lies outside the file");
        if (header.MetadataEnd < tableEnd || header.MetadataEnd > (ulong)length) throw Invalid("metadata range lies outside the file");
        uint crc = Crc32.Compute(memory.Span(header.SectionTableOffset, (int)(header.MetadataEnd - header.SectionTableOffset)));
        if (crc != header.MetadataChecksum) throw Invalid($"metadata checksum mismatch (stored {header.MetadataChecksum:X8}, computed {crc:X8}): the file is corrupted");

        for (int i = 0; i < header.SectionCount; i++)
        {
            var s = Unsafe.ReadUnaligned<SectionEntry>(memory.Pointer + header.SectionTableOffset + i * sizeof(SectionEntry));
            if ((uint)s.Kind == 0 || (uint)s.Kind >= (uint)sections.Length) throw Invalid($"section {i} has unknown kind {(uint)s.Kind}");
            if (sections[(int)s.Kind].Kind != 0) throw Invalid($"section {s.Kind} appears twice");
            if (s.Offset > (ulong)length || s.Length > (ulong)length - s.Offset) throw Invalid($"section {s.Kind} ({s.Offset}+{s.Length}) lies outside the file");
            if (s.Kind != SectionKind.ConstantData && s.Offset + s.Length > header.MetadataEnd) throw Invalid($"section {s.Kind} lies outside the checksummed metadata");
            if (s.Length > int.MaxValue && s.Kind != SectionKind.ConstantData) throw Invalid($"section {s.Kind} is too large");
            sections[(int)s.Kind] = s;
        }
        CheckRecordSize<FunctionRecord>(sections, SectionKind.Functions);
        CheckRecordSize<ImportRecord>(sections, SectionKind.Imports);
        CheckRecordSize<ExportRecord>(sections, SectionKind.Exports);
        CheckRecordSize<ExecutableRecord>(sections, SectionKind.Executables);
        CheckRecordSize<KernelRecord>(sections, SectionKind.Kernels);
        CheckRecordSize<SegmentRecord>(sections, SectionKind.Segments);
        CheckRecordSize<GlobalsRecord>(sections, SectionKind.Globals);
        CheckRecordSize<SignatureRecord>(sections, SectionKind.Signatures);
        CheckRecordSize<ParameterRecord>(sections, SectionKind.Parameters);
        CheckRecordSize<DimRecord>(sections, SectionKind.Dims);
        CheckRecordSize<StringListRecord>(sections, SectionKind.StringLists);
        CheckRecordSize<StringRef>(sections, SectionKind.StringListItems);
        if (sections[(int)SectionKind.Globals].Kind != 0 && sections[(int)SectionKind.Globals].Length != (ulong)sizeof(GlobalsRecord))
            throw Invalid("the globals section must hold exactly one record");
        return header;
    }

    private static void CheckRecordSize<T>(SectionEntry[] sections, SectionKind kind) where T : unmanaged
    {
        var s = sections[(int)kind];
        if (s.Kind != 0 && s.Length % (ulong)sizeof(T) != 0) throw Invalid($"section {kind} length {s.Length} is not a multiple of its {sizeof(T)}-byte records");
    }

    public static void VerifyTables(Module m)
    {
        var strings = m.Section(SectionKind.Strings);
        void CheckString(StringRef s, string what)
        {
            if ((ulong)s.Offset + s.Length > strings.Length) throw Invalid($"{what}: string ({s.Offset}+{s.Length}) lies outside the string table");
            try { _ = new UTF8Encoding(false, true).GetCharCount(m.Base + strings.Offset + s.Offset, (int)s.Length); }
            catch (DecoderFallbackException) { throw Invalid($"{what}: string is not valid UTF-8"); }
        }

        var code = m.Section(SectionKind.Bytecode);
        for (int i = 0; i < m.FunctionCount; i++)
        {
            var f = m.Function(i);
            CheckString(f.Name, $"function {i}");
            if ((ulong)f.CodeOffset + f.CodeLength > code.Length || f.CodeLength == 0) throw Invalid($"function {i}: code range ({f.CodeOffset}+{f.CodeLength}) lies outside the bytecode");
            if (f.ValueRegisters > ModuleFormat.MaxRegisters || f.RefRegisters > ModuleFormat.MaxRegisters) throw Invalid($"function {i}: too many registers");
            if (f.ValueArgs > f.ValueRegisters || f.RefArgs > f.RefRegisters || f.ValueResults > 255 || f.RefResults > 255)
                throw Invalid($"function {i}: argument or result counts exceed its registers");
        }
        for (int i = 0; i < m.ImportCount; i++) CheckString(m.Import(i).Name, $"import {i}");
        for (int i = 0; i < m.ExportCount; i++)
        {
            var e = m.Export(i);
            CheckString(e.Name, $"export {i}");
            if (e.Function >= m.FunctionCount) throw Invalid($"export {i} names function {e.Function} of {m.FunctionCount}");
            if (e.Signature != uint.MaxValue && e.Signature >= m.SignatureCount) throw Invalid($"export {i} names signature {e.Signature} of {m.SignatureCount}");
            if (e.Signature != uint.MaxValue)
            {
                var sig = m.Signature((int)e.Signature);
                var fn = m.Function((int)e.Function);
                if (sig.InputCount != fn.RefArgs || sig.OutputCount != fn.RefResults)
                    throw Invalid($"export {i}: its signature ({sig.InputCount} inputs, {sig.OutputCount} outputs) does not match its function");
            }
        }
        var kernelData = m.Section(SectionKind.KernelData);
        for (int i = 0; i < m.KernelCount; i++)
        {
            var k = m.Kernel(i);
            CheckString(k.Name, $"kernel {i}");
            if ((ulong)k.DataOffset + k.DataLength > kernelData.Length) throw Invalid($"kernel {i}: descriptor lies outside the kernel data");
            if (k.BindingCount > 4096 || k.ConstantCount > 65536) throw Invalid($"kernel {i}: too many bindings or constants");
        }
        for (int i = 0; i < m.ExecutableCount; i++)
        {
            var x = m.Executable(i);
            CheckString(x.Format, $"executable {i}");
            if ((ulong)x.FirstKernel + x.KernelCount > (ulong)m.KernelCount) throw Invalid($"executable {i}: kernels {x.FirstKernel}+{x.KernelCount} lie outside the kernel table");
        }
        var data = m.Section(SectionKind.ConstantData);
        for (int i = 0; i < m.SegmentCount; i++)
        {
            var s = m.Segment(i);
            if (s.Offset % ModuleFormat.ConstantAlignment != 0) throw Invalid($"constant segment {i} is not {ModuleFormat.ConstantAlignment}-byte aligned");
            if (s.Offset < data.Offset || s.Length > data.Length || s.Offset - data.Offset > data.Length - s.Length)
                throw Invalid($"constant segment {i} ({s.Offset}+{s.Length}) lies outside the constant data");
        }
        var g = m.Globals;
        if (g.ValueCount > ModuleFormat.MaxRegisters || g.RefCount > ModuleFormat.MaxRegisters) throw Invalid("too many globals");
        if (g.Initializer != uint.MaxValue)
        {
            if (g.Initializer >= m.FunctionCount) throw Invalid($"globals initializer names function {g.Initializer} of {m.FunctionCount}");
            var init = m.Function((int)g.Initializer);
            if (init.ValueArgs + init.RefArgs + init.ValueResults + init.RefResults != 0) throw Invalid("the globals initializer must take and return nothing");
        }
        for (int i = 0; i < m.SignatureCount; i++)
        {
            var s = m.Signature(i);
            if ((ulong)s.FirstParameter + s.InputCount + s.OutputCount > (ulong)m.ParameterCount) throw Invalid($"signature {i}: parameters lie outside the table");
        }
        for (int i = 0; i < m.ParameterCount; i++)
        {
            var p = m.Parameter(i);
            CheckString(p.Name, $"parameter {i}");
            if (p.Kind > (byte)ParameterKind.StringTensor || p.Reserved != 0) throw Invalid($"parameter {i}: unknown kind {p.Kind}");
            if (p.Kind == (byte)ParameterKind.StringTensor ? p.DType != (byte)DType.String : !DTypes.IsValid(p.DType))
                throw Invalid($"parameter {i}: dtype code {p.DType} does not fit its kind {(ParameterKind)p.Kind}");
            if (p.Rank == ModuleFormat.AnyRank && p.Kind != (byte)ParameterKind.Tensor) continue;
            if (p.Rank > ModuleFormat.MaxRank || (ulong)p.FirstDim + p.Rank > (ulong)m.DimCount) throw Invalid($"parameter {i}: dims lie outside the table");
        }
        for (int i = 0; i < m.DimCount; i++)
        {
            var d = m.Dim(i);
            if (d.Size < -1) throw Invalid($"dim {i}: size {d.Size}");
            if (d.Size == -1) CheckString(d.Symbol, $"dim {i}");
        }
        for (int i = 0; i < m.StringListItemCount; i++)
            CheckString(m.Record<StringRef>(SectionKind.StringListItems, i), $"string list item {i}");
        for (int i = 0; i < m.StringListCount; i++)
        {
            var l = m.StringListRecord(i);
            if ((ulong)l.FirstItem + l.Count > (ulong)m.StringListItemCount) throw Invalid($"string list {i}: items {l.FirstItem}+{l.Count} lie outside the item table");
        }
    }
}
