using System.Diagnostics;
using Kiln.Ir;
using Kiln.Onnx;
using Kiln.Ops;

namespace Kiln.Conformance;

/// <summary>
/// An engine the suite runs against: the reference evaluator, or a compiled module on a device.
/// Implementations are used by one thread at a time.
/// </summary>
public interface IConformanceEngine
{
    /// <summary>The configuration name; it also names the skip list (Skips/NAME.tsv).</summary>
    string Name { get; }

    /// <summary>Runs an imported model on inputs (graph order) and returns its outputs (graph order).</summary>
    IReadOnlyList<DataValue> Run(Model model, IReadOnlyList<DataValue> inputs);
}

/// <summary>Runs the model with <see cref="ReferenceEvaluator"/>.</summary>
public sealed class ReferenceEngine : IConformanceEngine
{
    public string Name => "reference";
    public IReadOnlyList<DataValue> Run(Model model, IReadOnlyList<DataValue> inputs) => new ReferenceEvaluator().Run(model.Graph, inputs);
}

public enum CaseStatus { Passed, Failed, Skipped }

public sealed record CaseResult(ConformanceCase Case, CaseStatus Status, string Detail, TimeSpan Elapsed);

/// <summary>Runs conformance cases: import, read data, run, compare. Every failure becomes a result with its reason.</summary>
public static class ConformanceRunner
{
    public static CaseResult Run(ConformanceCase c, IConformanceEngine engine, SkipList skips)
    {
        if (skips.ReasonFor(c.Id) is { } reason) return new CaseResult(c, CaseStatus.Skipped, reason, TimeSpan.Zero);
        var sw = Stopwatch.StartNew();
        try
        {
            string? failure = RunAndCompare(c, engine);
            return new CaseResult(c, failure is null ? CaseStatus.Passed : CaseStatus.Failed, failure ?? "", sw.Elapsed);
        }
        catch (KilnException e)
        {
            return new CaseResult(c, CaseStatus.Failed, $"{e.Code}: {e.Message}", sw.Elapsed);
        }
        catch (Kiln.Runtime.KilnRuntimeException e)
        {
            return new CaseResult(c, CaseStatus.Failed, $"runtime {e.Code}: {e.Message}", sw.Elapsed);
        }
        catch (Exception e)
        {
            return new CaseResult(c, CaseStatus.Failed, $"CRASH {e.GetType().Name}: {e.Message}\n{e.StackTrace}", sw.Elapsed);
        }
    }

    /// <summary>Null when every output matches; otherwise what differs.</summary>
    public static string? RunAndCompare(ConformanceCase c, IConformanceEngine engine)
    {
        var model = OnnxImporter.Load(c.ModelPath);
        var inputs = ReadInputs(c, model);
        var outputs = engine.Run(model, inputs);
        var expectedFiles = c.OutputFiles;
        if (outputs.Count != expectedFiles.Count && c.DataSetPath is not null)
            return $"produced {outputs.Count} outputs, the case expects {expectedFiles.Count}";
        for (int i = 0; i < expectedFiles.Count; i++)
        {
            var declared = i < model.Graph.Outputs.Count ? model.Graph.Outputs[i].Type : null;
            var expected = OnnxTestData.Read(expectedFiles[i], declared);
            string name = i < model.Graph.Outputs.Count ? model.Graph.Outputs[i].Name : $"#{i}";
            if (Comparison.Compare(name, expected, outputs[i], c.RelativeTolerance, c.AbsoluteTolerance) is { } diff) return diff;
        }
        return null;
    }

    public static IReadOnlyList<DataValue> ReadInputs(ConformanceCase c, Model model)
    {
        var graphInputs = model.Graph.Inputs;
        if (c.DataSetPath is null) return graphInputs.Select(GenerateInput).ToArray();
        var files = c.InputFiles;
        if (files.Count != graphInputs.Count)
            throw new KilnException(ErrorCode.InvalidArgument, $"the case has {files.Count} inputs, the model takes {graphInputs.Count}");
        return files.Select((f, i) => OnnxTestData.Read(f, graphInputs[i].Type)).ToArray();
    }

    /// <summary>The "real" cases' inputs: arange(n).reshape(shape) / n as float32, unknown dimensions as 1.</summary>
    private static DataValue GenerateInput(Value input)
    {
        if (input.Type is not TensorType { ElementType: ElementType.Float32 } t || !t.Shape.IsRanked)
            throw new KilnException(ErrorCode.Unsupported, $"cannot generate input '{input.Name}' of type {input.Type}");
        var shape = t.Shape.Select(d => d.IsKnown ? d.Value : 1).ToArray();
        var data = TensorData.Zeros(ElementType.Float32, shape);
        var f = data.Data<float>();
        for (int i = 0; i < f.Length; i++) f[i] = (float)i / f.Length;
        return data;
    }

    /// <summary>The one-line summary the harness ends with.</summary>
    public static string Summary(IEnumerable<CaseResult> results)
    {
        var list = results.ToList();
        return $"{list.Count(r => r.Status == CaseStatus.Passed)} passed, {list.Count(r => r.Status == CaseStatus.Failed)} failed, {list.Count(r => r.Status == CaseStatus.Skipped)} skipped";
    }
}
