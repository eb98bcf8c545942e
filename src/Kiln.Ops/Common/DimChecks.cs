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
}
