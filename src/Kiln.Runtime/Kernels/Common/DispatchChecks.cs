using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels;

/// <summary>
/// The checks kernels make in Validate: sizes from push constants are never negative and their
/// products cannot overflow, and every binding holds what the sizes imply. Failures are
/// OutOfRange errors that name the kernel, so a hostile module cannot steer a kernel outside
/// its bindings.
/// </summary>
internal static class DispatchChecks
{
    /// <summary>The largest element count or offset a kernel accepts (keeps every offset and byte count far from overflow).</summary>
    public const long MaxElements = 1L << 48;

    public static KilnRuntimeException OutOfRange(string kernel, string message) => new(StatusCode.OutOfRange, $"{kernel}: {message}");

    /// <summary>A size push constant: 0 ≤ n ≤ <see cref="MaxElements"/>.</summary>
    public static long Size(long n, string kernel, string what) =>
        n is >= 0 and <= MaxElements ? n : throw OutOfRange(kernel, $"{what} {n} is out of range");

    /// <summary>The product of sizes, each checked, failing when it exceeds <see cref="MaxElements"/>.</summary>
    public static long Product(ReadOnlySpan<long> sizes, string kernel, string what)
    {
        long total = 1;
        foreach (long n in sizes) total = Multiply(total, Size(n, kernel, what), kernel, what);
        return total;
    }

    public static long Multiply(long a, long b, string kernel, string what)
    {
        if (a == 0 || b == 0) return 0;
        return a <= MaxElements / b ? a * b : throw OutOfRange(kernel, $"{what} overflows ({a} × {b})");
    }

    /// <summary>Checks that binding <paramref name="index"/> holds at least <paramref name="elements"/> elements of <paramref name="elementSize"/> bytes.</summary>
    public static void Fits(in DispatchState d, int index, long elements, int elementSize, string kernel, string what)
    {
        long bytes = Multiply(elements, elementSize, kernel, what);
        if (bytes > d.Binding(index).Length)
            throw OutOfRange(kernel, $"{what} needs {bytes} bytes, its binding has {d.Binding(index).Length}");
    }
}
