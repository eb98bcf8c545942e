using Kiln.Ir;
using Kiln.Onnx;
using Kiln.Tests.Conformance;
using Kiln.Tests.Models;

namespace Kiln.Tests.Ir;

/// <summary>
/// The IR of every model in the tests (each conformance case, each real model) round-trips
/// through text exactly: print, parse, print again gives the same text, and the parsed IR verifies.
/// </summary>
public class RoundTripTests
{
    public static TheoryData<string> ConformanceModels() => ReferenceConformanceTests.Cases("reference");

    public static void AssertRoundTrip(Model model)
    {
        string text = IrPrinter.Print(model);
        var parsed = IrParser.ParseModel(text);
        Verifier.Verify(parsed);
        Assert.Equal(text, IrPrinter.Print(parsed));
    }

    [SkippableTheory]
    [MemberData(nameof(ConformanceModels))]
    public void ConformanceModel(string id)
    {
        Skip.If(id.Length == 0, SharedData.MissingMessage);
        Model model;
        try { model = OnnxImporter.Load(ReferenceConformanceTests.Find(id).ModelPath); }
        catch (KilnException e) { Skip.Always($"the model does not import: {e.Message}"); return; }
        AssertRoundTrip(model);
    }

    [SkippableTheory]
    [MemberData(nameof(RealModelTests.ModelNames), MemberType = typeof(RealModelTests))]
    public void RealModel(string name)
    {
        Skip.If(name.Length == 0, SharedData.MissingMessage);
        AssertRoundTrip(OnnxImporter.Load(RealModelTests.ReadManifest(name).ModelPath));
    }
}
