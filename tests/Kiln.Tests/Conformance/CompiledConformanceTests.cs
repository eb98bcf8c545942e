using Kiln.Conformance;

namespace Kiln.Tests.Conformance;

/// <summary>
/// Every ONNX backend case through the whole compiled path — compile, write the module, load and
/// verify it, run it — on each device, and with the IL target on the sync device. Each
/// configuration has its own skip list (Skips/compiled-sync*.tsv, Skips/compiled-task*.tsv; the
/// IL configuration takes compiled-sync's lists plus Skips/compiled-sync-il*.tsv), every entry with its reason.
/// </summary>
public class CompiledConformanceTests
{
    public static TheoryData<string> Cases() => ReferenceConformanceTests.Cases("compiled");

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void CompiledSync(string id) => ReferenceConformanceTests.RunCase(id, new CompiledEngine("sync"));

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void CompiledTask(string id) => ReferenceConformanceTests.RunCase(id, new CompiledEngine("task"));

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void CompiledSyncIl(string id) => ReferenceConformanceTests.RunCase(id, new CompiledEngine("sync", "il"));
}
