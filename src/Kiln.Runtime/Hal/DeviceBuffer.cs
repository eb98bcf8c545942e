using System.Runtime.InteropServices;

namespace Kiln.Runtime.Hal;

/// <summary>
/// A block of memory kernels read and write through a pointer: native memory aligned to 64 bytes
/// (arenas), a pinned managed array (outputs handed to callers; the GC frees it), or external
/// memory used in place (module constants, pinned caller arrays).
/// Ownership: an owned buffer frees its memory on Dispose (native) or when collected (managed);
/// an external buffer never frees the memory, only releases its pin/owner. Not thread-safe for
/// Dispose; reads and writes through <see cref="Pointer"/> are the kernels' business.
/// </summary>
public sealed unsafe class DeviceBuffer : IDisposable
{
    private readonly byte[]? _managed;   // keeps a pinned array alive
    private OutputRecycler? _recycler;    // takes the array back on Dispose
    private GCHandle _pin;
    private IDisposable? _owner;
    private bool _nativeOwned;
    private nuint _mapped; // PageMemory's mapping length (0: aligned allocation)

    public byte* Pointer { get; private set; }
    public long Length { get; }

    private DeviceBuffer(byte* pointer, long length) { Pointer = pointer; Length = length; }

    private DeviceBuffer(byte[] managed, long length, int alignOffset)
    {
        _managed = managed;
        Pointer = (byte*)Marshal.UnsafeAddrOfPinnedArrayElement(managed, alignOffset);
        Length = length;
    }

    /// <summary>
    /// Native memory, 64-byte aligned, freed on Dispose. Zeroed only when asked: an arena's pages
    /// are then committed by the kernels that write them, not all at once at allocation.
    /// </summary>
    public static DeviceBuffer AllocateNative(long length, bool zeroed = true)
    {
        if (length < 0) throw new KilnRuntimeException(StatusCode.OutOfRange, $"negative buffer size {length}");
        byte* p = PageMemory.Allocate(length, out nuint mapped);
        if (zeroed && mapped == 0) NativeMemory.Clear(p, (nuint)Math.Max(length, 1)); // fresh mappings are zero
        return new DeviceBuffer(p, length) { _nativeOwned = true, _mapped = mapped };
    }

    /// <summary>
    /// Memory on the pinned object heap, 64-byte aligned: owned by the GC, so a caller that never
    /// disposes an output leaks nothing.
    /// </summary>
    /// <remarks>
    /// Zeroed, unless a <paramref name="recycler"/> is given (for kernel outputs: kernels write every
    /// element): then the array may be one an earlier output gave back, and goes back to it on
    /// Dispose, so spans taken from an output must not be used after disposing it.
    /// </remarks>
    public static DeviceBuffer AllocateManaged(long length, OutputRecycler? recycler = null)
    {
        if (length < 0 || length > Array.MaxLength - 64) throw new KilnRuntimeException(StatusCode.ResourceExhausted, $"cannot allocate {length} bytes");
        var array = recycler?.Rent((int)length + 64) ?? GC.AllocateArray<byte>((int)length + 64, pinned: true);
        fixed (byte* p = array)
        {
            int offset = (int)((64 - ((nuint)p & 63)) & 63);
            return new DeviceBuffer(array, length, offset) { _recycler = recycler };
        }
    }

    /// <summary>External memory used in place; <paramref name="owner"/> (if any) is disposed with the buffer.</summary>
    public static DeviceBuffer Wrap(byte* pointer, long length, IDisposable? owner = null) => new(pointer, length) { _owner = owner };

    /// <summary>Pins a caller's array for the buffer's lifetime (no copy).</summary>
    public static DeviceBuffer Pin(Array array, long length)
    {
        var handle = GCHandle.Alloc(array, GCHandleType.Pinned);
        return new DeviceBuffer((byte*)handle.AddrOfPinnedObject(), length) { _pin = handle };
    }

    public Span<byte> Bytes => new(Pointer, checked((int)Length));

    public void Dispose()
    {
        if (_nativeOwned && Pointer != null) PageMemory.Free(Pointer, _mapped);
        if (_pin.IsAllocated) _pin.Free();
        _owner?.Dispose();
        _owner = null;
        _nativeOwned = false;
        if (_recycler is not null && _managed is not null)
        {
            _recycler.Return(_managed);
            _recycler = null;
            Pointer = null;
        }
        if (_managed is null) Pointer = null;
    }

    /// <summary>Checks that [offset, offset + length) lies inside the buffer.</summary>
    public void CheckRange(long offset, long length, string what)
    {
        if (offset < 0 || length < 0 || offset > Length - length)
            throw new KilnRuntimeException(StatusCode.OutOfRange, $"{what}: range {offset}+{length} is outside a buffer of {Length} bytes");
        if (Pointer == null) throw new KilnRuntimeException(StatusCode.FailedPrecondition, $"{what}: the buffer was disposed");
    }
}
