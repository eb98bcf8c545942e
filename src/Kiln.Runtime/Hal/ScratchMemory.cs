using System.Runtime.InteropServices;

namespace Kiln.Runtime.Hal;

/// <summary>
/// Workgroup scratch memory that stays allocated between dispatches (native, 64-byte aligned,
/// grown on demand): a dispatch costs no allocation. One per command buffer (its submitting
/// thread) and one per pool worker. Not thread-safe: each belongs to one thread at a time.
/// </summary>
public sealed unsafe class ScratchMemory : IDisposable
{
    private byte* _memory;
    private int _length;
    private nuint _mapped;

    public byte* Get(int bytes)
    {
        if (bytes <= _length) return _memory;
        PageMemory.Free(_memory, _mapped);
        _length = Math.Max(bytes, 2 * _length);
        _memory = PageMemory.Allocate(_length, out _mapped);
        return _memory;
    }

    public void Dispose()
    {
        PageMemory.Free(_memory, _mapped);
        _memory = null;
        _length = 0;
    }
}
