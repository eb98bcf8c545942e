using System.Runtime.InteropServices;

namespace Kiln.Runtime.Hal;

/// <summary>
/// Native memory for large, long-lived blocks (arenas, scratch): 64-byte aligned, freed with
/// <see cref="Free"/>. On Linux a block of 2 MiB or more is its own anonymous mapping marked for
/// transparent huge pages, so first use commits it in 2 MiB pages rather than 4 KiB ones: on
/// virtual machines every page fault is an exit to the hypervisor (measured here: about 23 µs per
/// 4 KiB fault, 0.2 s to first-touch a 32 MiB arena; a few ms with huge pages), which made a
/// model's first inference twice as slow as the next. Elsewhere, and for small blocks, plain
/// aligned allocation. Stateless; thread-safe.
/// </summary>
public static unsafe partial class PageMemory
{
    private const long HugePage = 2L << 20;
    private const int ProtReadWrite = 0x1 | 0x2;
    private const int MapPrivateAnonymous = 0x02 | 0x20;
    private const int MadviseHugePage = 14;

    /// <summary>Allocates <paramref name="bytes"/> (at least 1); the result's mapping must be passed back to <see cref="Free"/>.</summary>
    public static byte* Allocate(long bytes, out nuint mapped)
    {
        nuint length = (nuint)Math.Max(bytes, 1);
        if (OperatingSystem.IsLinux() && bytes >= HugePage)
        {
            mapped = (length + (nuint)HugePage - 1) & ~((nuint)HugePage - 1);
            void* p = Mmap(null, mapped, ProtReadWrite, MapPrivateAnonymous, -1, 0);
            if (p != (void*)-1)
            {
                _ = Madvise(p, mapped, MadviseHugePage); // advice only: without huge pages it still works
                return (byte*)p;
            }
        }
        mapped = 0;
        try { return (byte*)NativeMemory.AlignedAlloc(length, 64); }
        catch (OutOfMemoryException) { throw new KilnRuntimeException(StatusCode.ResourceExhausted, $"cannot allocate {bytes} bytes"); }
    }

    /// <summary>Frees memory from <see cref="Allocate"/>.</summary>
    public static void Free(byte* p, nuint mapped)
    {
        if (p == null) return;
        if (mapped != 0) _ = Munmap(p, mapped);
        else NativeMemory.AlignedFree(p);
    }

    [LibraryImport("libc", EntryPoint = "mmap")]
    private static partial void* Mmap(void* address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "munmap")]
    private static partial int Munmap(void* address, nuint length);

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(void* address, nuint length, int advice);
}
