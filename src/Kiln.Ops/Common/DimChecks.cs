using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>Shape checks that serve inference (symbolic sizes) and evaluation (known sizes) alike.</summary>
public static class DimChecks
{
    /// <summary>Throws when both sizes are known and differ; symbolic sizes are left to run time.</summary>
    public static void ExpectEqual(Dim actual, Dim expected, string what, Func<string, KilnException> error)
    {
        if (actual.IsKnown && expected.IsKnown && actual.Value != expected.Value)
            throw error($"{what} is {actual}, expected {expected}");
    }

    /// <summary>A packed size split into equal parts (a hidden size into heads); throws when a known size does not divide.</summary>
    public static Dim SplitEvenly(Dim total, long parts, string what, Func<string, KilnException> error)
    {
        if (total.IsKnown && total.Value % parts != 0)
            throw error($"{what} {total} is not a multiple of {parts}");
        return total / parts;
    }
}
