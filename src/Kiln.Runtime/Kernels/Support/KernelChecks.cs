using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Support;

/// <summary>
/// Checks the pooling, resize, normalization and sampling kernels share in Validate: sizes from
/// push constants are non-negative and their products do not overflow, and a binding holds the
/// elements the sizes imply. Every failure is an OutOfRange error, so a hostile module cannot
/// make a kernel touch memory outside its bindings.
/// </summary>
internal static class KernelChecks
{
    /// <summary>Sizes and products are kept below 2^40 elements: far beyond any buffer, far from overflow.</summary>
    public const long MaxElements = 1L << 40;

    public static KilnRuntimeException Error(string kernel, string message) => new(StatusCode.OutOfRange, $"{kernel}: {message}");

    /// <summary>A size constant: 0 ≤ value ≤ <see cref="MaxElements"/>.</summary>
    public static long Size(string kernel, long value, string what) =>
        value is >= 0 and <= MaxElements ? value : throw Error(kernel, $"{what} is {value}, outside [0, 2^40]");

    /// <summary>a·b for sizes already checked with <see cref="Size"/>; fails beyond <see cref="MaxElements"/>.</summary>
    public static long Multiply(string kernel, long a, long b) =>
        a == 0 || b == 0 ? 0 : a <= MaxElements / b ? a * b : throw Error(kernel, $"sizes {a} x {b} overflow");

    public static long Product(string kernel, ReadOnlySpan<long> sizes)
    {
        long p = 1;
        foreach (long s in sizes) p = Multiply(kernel, p, s);
        return p;
    }

    /// <summary>Binding <paramref name="index"/> holds at least <paramref name="elements"/> elements of <paramref name="elementSize"/> bytes.</summary>
    public static void Holds(string kernel, in DispatchState d, int index, long elements, int elementSize, string what)
    {
        if (index >= d.BindingCount) throw Error(kernel, $"binding {index} ({what}) is missing");
        if (Multiply(kernel, elements, elementSize) > d.Binding(index).Length)
            throw Error(kernel, $"{what} needs {elements} elements of {elementSize} bytes, its binding has {d.Binding(index).Length} bytes");
    }
}

/// <summary>
/// How a kernel splits independent items (planes, rows, groups) into workgroups: one group when
/// the work is small or the device has one thread, else enough similar-sized groups for the
/// worker pool to balance (several per worker, since groups are taken dynamically).
/// </summary>
internal static class WorkSplit
{
    /// <summary>Work below this many element operations is not worth a second thread.</summary>
    public const long MinGroupCost = 1 << 15;

    public static int Groups(long items, long costPerItem, KernelEnvironment env)
    {
        if (items <= 0) return 0;
        if (env.WorkerCount <= 1) return 1;
        long cost = costPerItem <= 0 ? items : items > long.MaxValue / costPerItem ? long.MaxValue : items * costPerItem;
        long groups = Math.Min(Math.Min(items, Math.Max(1, cost / MinGroupCost)), 4L * env.WorkerCount);
        return (int)groups;
    }

    /// <summary>The items [start, end) of one group: contiguous, sizes differing by at most one.</summary>
    public static (long Start, long End) Range(int group, int groups, long items) =>
        (items * group / groups, items * (group + 1) / groups);
}
