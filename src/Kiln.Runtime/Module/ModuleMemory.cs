using System.Buffers;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

namespace Kiln.Runtime;

/// <summary>
/// The bytes of a module, wherever they lie: a read-only memory mapping of a file, a pinned
/// caller-owned <see cref="ReadOnlyMemory{T}"/>, an embedded resource, or raw memory. Nothing is
/// copied; the module is read in place through <see cref="Pointer"/>.
/// Ownership: disposing releases the mapping or the pin (never the caller's own memory).
/// Thread-safe for reads; Dispose must not race with use.
/// </summary>
public abstract unsafe class ModuleMemory : IDisposable
{
    public byte* Pointer { get; protected set; }
    public long Length { get; protected set; }

    public ReadOnlySpan<byte> Span(long offset, int length) => new(Pointer + offset, length);

    /// <summary>Maps a file read-only. Pages are read on first touch, so load time does not depend on the weights' size.</summary>
    public static ModuleMemory MapFile(string path) => new MappedFile(path);

    /// <summary>Uses a caller's memory in place (it is pinned until disposal). The caller must not change it.</summary>
    public static ModuleMemory FromMemory(ReadOnlyMemory<byte> memory) => new Pinned(memory);

    /// <summary>Uses an embedded resource in place (assembly manifest resources are unmanaged memory streams).</summary>
    public static ModuleMemory FromStream(UnmanagedMemoryStream stream) => new External(stream.PositionPointer - stream.Position, stream.Length, stream);

    /// <summary>Uses raw memory that outlives the module; <paramref name="owner"/> (if any) is disposed with it.</summary>
    public static ModuleMemory FromPointer(byte* pointer, long length, IDisposable? owner = null) => new External(pointer, length, owner);

    public void Dispose()
    {
        Release();
        Pointer = null;
        Length = 0;
        GC.SuppressFinalize(this);
    }

    protected abstract void Release();

    private sealed class MappedFile : ModuleMemory
    {
        private readonly MemoryMappedFile? _file;
        private readonly MemoryMappedViewAccessor? _view;
        private bool _acquired;

        public MappedFile(string path)
        {
            long length;
            try { length = new FileInfo(path).Length; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            { throw new KilnRuntimeException(StatusCode.InvalidArgument, $"cannot open module '{path}': {e.Message}", e); }
            if (length == 0) throw new KilnRuntimeException(StatusCode.InvalidModule, $"module '{path}' is empty");
            try
            {
                _file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
                _view = _file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
                byte* p = null;
                _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
                _acquired = true;
                Pointer = p + _view.PointerOffset;
                Length = length;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Release();
                throw new KilnRuntimeException(StatusCode.InvalidArgument, $"cannot map module '{path}': {e.Message}", e);
            }
        }

        protected override void Release()
        {
            if (_acquired) { _view!.SafeMemoryMappedViewHandle.ReleasePointer(); _acquired = false; }
            _view?.Dispose();
            _file?.Dispose();
        }
    }

    private sealed class Pinned : ModuleMemory
    {
        private MemoryHandle _handle;

        public Pinned(ReadOnlyMemory<byte> memory)
        {
            _handle = memory.Pin();
            Pointer = (byte*)_handle.Pointer;
            Length = memory.Length;
        }

        protected override void Release() => _handle.Dispose();
    }

    private sealed class External : ModuleMemory
    {
        private readonly IDisposable? _owner;

        public External(byte* pointer, long length, IDisposable? owner)
        {
            Pointer = pointer;
            Length = length;
            _owner = owner;
        }

        protected override void Release() => _owner?.Dispose();
    }
}
