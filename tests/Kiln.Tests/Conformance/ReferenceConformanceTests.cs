using Kiln.Conformance;

namespace Kiln.Tests.Conformance;

/// <summary>
/// Every ONNX backend case (node, simple, pytorch-converted, pytorch-operator, real) against the
/// reference evaluator. Cases in Skips/reference*.tsv are reported as skipped with their reasons.
/// </summary>
public class ReferenceConformanceTests
{
    public static readonly string[] Folders = ["node", "simple", "pytorch-converted", "pytorch-operator", "real"];

    public static TheoryData<string> Cases(string engine)
    {
        var data = new TheoryData<string>();
        if (SharedData.OnnxBackend is not { } root) { data.Add(""); return data; }
        foreach (var folder in Folders)
            foreach (var c in ConformanceCase.Discover(Path.Combine(root, folder)))
                data.Add(c.Id);
        return data;
    }

    public static TheoryData<string> ReferenceCases() => Cases("reference");

    private static readonly Lazy<Dictionary<string, ConformanceCase>> s_all = new(() =>
        Folders.SelectMany(f => ConformanceCase.Discover(Path.Combine(SharedData.OnnxBackend!, f))).ToDictionary(c => c.Id));

    public static ConformanceCase Find(string id) => s_all.Value[id];

    /// <summary>Runs one case on an engine, skipping it (with the reason) when the engine's skip list names it.</summary>
    public static void RunCase(string id, IConformanceEngine engine)
    {
        Skip.If(id.Length == 0, SharedData.MissingMessage);
        if (SkipList.ForEngine(engine.Name).ReasonFor(id) is { } reason) Skip.Always(reason);
        string? failure = ConformanceRunner.RunAndCompare(Find(id), engine);
        Assert.True(failure is null, failure);
    }

    [SkippableTheory]
    [MemberData(nameof(ReferenceCases))]
    public void Reference(string id) => RunCase(id, new ReferenceEngine());
}
