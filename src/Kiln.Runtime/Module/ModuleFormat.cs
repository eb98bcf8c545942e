using System.Runtime.InteropServices;

namespace Kiln.Runtime.Format;

// The .kiln module file format, defined once here; the runtime reads it (ModuleReader) and the
// compiler's writer follows these definitions. docs/module-format.md describes it in prose.
//
// Every integer is little-endian. Every reference inside the file is an index into a table or an
// offset from the start of the file (or of a named section), so the file is used where it lies:
// loading never writes to it, never copies its constants, and never patches addresses.
//
//   header (64 bytes) · section table · sections ...
//
// Records are fixed-size, packed structs, read in place with MemoryMarshal.

/// <summary>Constants of the format.</summary>
public static class ModuleFormat
{
    /// <summary>"KILNMOD" and a zero byte.</summary>
    public static ReadOnlySpan<byte> Magic => "KILNMOD\0"u8;
    public const uint Version = 1;
    public const int HeaderSize = 64;
    /// <summary>Constant data starts at multiples of this, so kernels can use aligned vector loads.</summary>
    public const int ConstantAlignment = 64;
    /// <summary>Limits that keep verification and allocation bounded.</summary>
    public const int MaxSections = 64;
    public const int MaxRegisters = 60000;
    public const int MaxRank = 16;
    /// <summary>A parameter rank meaning "any rank" (sequences and optionals of unranked tensors only).</summary>
    public const byte AnyRank = 255;
    /// <summary>The largest section kind this runtime reads.</summary>
    public const int MaxSectionKind = (int)SectionKind.StringListItems;
}

/// <summary>The file header, at offset 0.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct ModuleHeader
{
    public ulong Magic;             // "KILNMOD\0"
    public uint Version;
    public uint HeaderSize;         // 64
    public ulong FileSize;          // the exact file length
    public ulong RequiredFeatures;  // CpuFeatures bits the module's kernels need
    public uint SectionCount;
    public uint SectionTableOffset;
    /// <summary>CRC-32 of every byte from the section table to the start of the constant data: catches corrupted tables cheaply; constants are not hashed (loading must not touch them).</summary>
    public uint MetadataChecksum;
    public uint MetadataEnd;
    public ulong Reserved0;
    public ulong Reserved1;
}

public enum SectionKind : uint
{
    Strings = 1,        // UTF-8 bytes; strings are (offset, length) pairs into this section
    Functions = 2,      // FunctionRecord[]
    Imports = 3,        // ImportRecord[]
    Exports = 4,        // ExportRecord[]
    Executables = 5,    // ExecutableRecord[]
    Kernels = 6,        // KernelRecord[] (the export tables of all executables, concatenated)
    KernelData = 7,     // opaque per-kernel descriptors (e.g. an elementwise program), verified by the kernel's loader
    Bytecode = 8,       // VM code of all functions
    Segments = 9,       // SegmentRecord[]: constant segments
    ConstantData = 10,  // the constant bytes (64-byte aligned segments)
    Globals = 11,       // one GlobalsRecord
    Signatures = 12,    // SignatureRecord[]: exported function interfaces (for callers and checks)
    Parameters = 13,    // ParameterRecord[]
    Dims = 14,          // DimRecord[]
    StringLists = 15,   // StringListRecord[]: constant lists of strings (string tensors' elements, patterns, stopwords)
    StringListItems = 16, // StringRef[]: the strings of all lists, concatenated
}

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct SectionEntry
{
    public SectionKind Kind;
    public uint Reserved;
    public ulong Offset;
    public ulong Length;
}

/// <summary>A string: offset and length in the Strings section.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct StringRef
{
    public uint Offset;
    public uint Length;
}

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct FunctionRecord
{
    public StringRef Name;
    public uint CodeOffset;         // in the Bytecode section
    public uint CodeLength;
    public ushort ValueRegisters;   // i64 bank size
    public ushort RefRegisters;     // object bank size
    public ushort ValueArgs;        // arguments arrive in registers [0, n) of each bank
    public ushort RefArgs;
    public ushort ValueResults;
    public ushort RefResults;
    public uint Reserved;
}

/// <summary>A function the module calls on its host (e.g. "hal.dispatch"), resolved per context.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct ImportRecord
{
    public StringRef Name;
    public ushort ValueArgs;        // minimum counts; with Variadic set, a call may pass more
    public ushort RefArgs;
    public ushort ValueResults;
    public ushort RefResults;
    public uint Flags;              // ImportFlags
}

[Flags]
public enum ImportFlags : uint { None = 0, VariadicValues = 1, VariadicRefs = 2 }

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct ExportRecord
{
    public StringRef Name;
    public uint Function;
    public uint Signature;          // index into Signatures, or uint.MaxValue
}

/// <summary>An executable: a table of kernels in one format ("portable", "il", ...).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct ExecutableRecord
{
    public StringRef Format;
    public uint FirstKernel;        // in the Kernels section
    public uint KernelCount;
}

/// <summary>One entry of an executable's export table: dispatches name it by ordinal.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct KernelRecord
{
    public StringRef Name;          // the kernel family the loader provides ("elementwise", "matmul", ...)
    public uint DataOffset;         // descriptor bytes in the KernelData section
    public uint DataLength;
    public uint BindingCount;       // buffers a dispatch passes
    public uint ConstantCount;      // push constants (i64) a dispatch passes
    public ulong ContentHash;       // hash of name + descriptor: identical kernels share generated code
}

/// <summary>A constant segment, used in place by the kernels.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct SegmentRecord
{
    public ulong Offset;            // from the start of the file; a multiple of ConstantAlignment
    public ulong Length;
}

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct GlobalsRecord
{
    public uint ValueCount;
    public uint RefCount;
    public uint Initializer;        // function run once at context creation, or uint.MaxValue
    public uint Reserved;
}

/// <summary>The interface of an exported function: its inputs and outputs (tensors, sequences, optionals).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct SignatureRecord
{
    public uint FirstParameter;     // in Parameters: inputs, then outputs
    public ushort InputCount;
    public ushort OutputCount;
}

[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct ParameterRecord
{
    public StringRef Name;
    public byte DType;              // the tensor's, or its elements' for a sequence
    public byte Rank;
    public byte Kind;               // ParameterKind
    public byte Reserved;
    public uint FirstDim;           // in Dims
}

/// <summary>
/// What a parameter passes: a tensor, a sequence of tensors, an optional of either (none = a null
/// object), or a string tensor (a host object; its dtype is String).
/// </summary>
public enum ParameterKind : byte { Tensor = 0, Sequence = 1, OptionalTensor = 2, OptionalSequence = 3, StringTensor = 4 }

/// <summary>A constant list of strings: a range of the StringListItems table (each a string of the Strings section).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct StringListRecord
{
    public uint FirstItem;
    public uint Count;
}

/// <summary>A dimension of a parameter: a size, or a named symbol (Size = -1).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public struct DimRecord
{
    public long Size;
    public StringRef Symbol;
}
