using System.Runtime.InteropServices;

namespace Kiln.Runtime.Hal;

/// <summary>
/// Native memory for large, long-lived blocks (arenas, scratch): 64-byte aligned, freed with
/// <see cref="Free"/>. On Linux a block of 512 KiB or more is its own anonymous mapping, 2 MiB
/// aligned, rounded up to whole 2 MiB and marked for transparent huge pages, so first use commits
/// it in 2 MiB pages rather than 4 KiB ones: on virtual machines every page fault is an exit to
/// the hypervisor (measured here: about 15–23 µs per 4 KiB fault, 0.2 s to first-touch a 32 MiB
/// arena; a few ms with huge pages), which made a model's first inference several times slower
/// than the next. The alignment matters: the kernel backs only aligned 2 MiB ranges with huge
/// pages. The rounding costs at most 1.5 MiB of memory per block. Elsewhere, and for small
/// blocks, plain aligned allocation. Stateless; thread-safe.
/// </summary>
public static unsafe partial class PageMemory
{
    private const long HugePage = 2L << 20;
    /// <summary>Blocks from this size on get their own huge-page mapping.</summary>
    private const long MappedFrom = 512L << 10;
    private const int ProtReadWrite = 0x1 | 0x2;
    private const int MapPrivateAnonymous = 0x02 | 0x20;
    private const int MadviseHugePage = 14;

    /// <summary>Allocates <paramref name="bytes"/> (at least 1); the result's mapping must be passed back to <see cref="Free"/>.</summary>
    public static byte* Allocate(long bytes, out nuint mapped)
    {
        nuint length = (nuint)Math.Max(bytes, 1);
        if (OperatingSystem.IsLinux() && bytes >= MappedFrom)
        {
            const nuint huge = (nuint)HugePage;
            mapped = (length + huge - 1) & ~(huge - 1);
            // Reserve one huge page more, then trim the head and tail so the block starts 2 MiB aligned.
            nuint reserved = mapped + huge;
            byte* p = (byte*)Mmap(null, reserved, ProtReadWrite, MapPrivateAnonymous, -1, 0);
            if (p != (byte*)-1)
            {
                byte* aligned = (byte*)(((nuint)p + huge - 1) & ~(huge - 1));
                if (aligned > p) _ = Munmap(p, (nuint)(aligned - p));
                nuint tail = (nuint)(p + reserved - (aligned + mapped));
                if (tail > 0) _ = Munmap(aligned + mapped, tail);
                _ = Madvise(aligned, mapped, MadviseHugePage); // advice only: without huge pages it still works
                return aligned;
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
