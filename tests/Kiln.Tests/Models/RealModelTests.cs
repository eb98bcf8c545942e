using System.Text.Json;
using Kiln.Cli;
using Kiln.Ir;

namespace Kiln.Tests.Models;

/// <summary>
/// Every model in ../shared/models runs through `kiln run` and matches ONNX Runtime's recorded
/// outputs within |a−b| ≤ 1e-6 + 1e-3·|b| elementwise.
/// </summary>
public class RealModelTests
{
    public static TheoryData<string> ModelNames()
    {
        var data = new TheoryData<string>();
        if (SharedData.Models is not { } root) { data.Add(""); return data; }
        foreach (var dir in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
            if (File.Exists(Path.Combine(dir, "manifest.json"))) data.Add(Path.GetFileName(dir));
        return data;
    }

    public sealed record Manifest(string ModelPath, IReadOnlyList<(string Name, string File)> Inputs, IReadOnlyList<(string Name, string File)> Outputs);

    public static Manifest ReadManifest(string name)
    {
        string dir = Path.Combine(SharedData.Models!, name);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json")));
        (string, string) Entry(JsonElement e) => (e.GetProperty("name").GetString()!, Path.Combine(dir, e.GetProperty("file").GetString()!));
        var root = doc.RootElement;
        return new Manifest(Path.Combine(dir, root.GetProperty("model").GetString()!),
            root.GetProperty("inputs").EnumerateArray().Select(Entry).ToArray(),
            root.GetProperty("outputs").EnumerateArray().Select(Entry).ToArray());
    }

    /// <summary>The rule of the model suite: |a−b| ≤ 1e-6 + 1e-3·|b|, shapes and types equal.</summary>
    public static void AssertClose(string what, TensorData expected, TensorData actual)
    {
        Assert.Equal(expected.ElementType, actual.ElementType);
        Assert.Equal(expected.Shape, actual.Shape);
        long bad = 0, first = -1;
        for (long i = 0; i < expected.ElementCount; i++)
        {
            double e = expected.GetDouble(i), a = actual.GetDouble(i);
            if (!(Math.Abs(a - e) <= 1e-6 + 1e-3 * Math.Abs(e))) { bad++; if (first < 0) first = i; }
        }
        Assert.True(bad == 0, $"{what}: {bad}/{expected.ElementCount} elements differ; first [{first}]: got {(first >= 0 ? actual.GetDouble(first) : 0)}, expected {(first >= 0 ? expected.GetDouble(first) : 0)}");
    }

    [SkippableTheory]
    [MemberData(nameof(ModelNames))]
    public void RunMatchesOnnxRuntime(string name)
    {
        Skip.If(name.Length == 0, SharedData.MissingMessage);
        var manifest = ReadManifest(name);
        string outDir = Path.Combine(Path.GetTempPath(), "kiln-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            var args = new List<string> { "run", manifest.ModelPath, "--output-dir", outDir };
            foreach (var (input, file) in manifest.Inputs) args.AddRange(["--input", $"{input}=@{file}"]);
            Assert.Equal(0, KilnTool.Run(args.ToArray()));
            foreach (var (output, file) in manifest.Outputs)
            {
                string produced = Path.Combine(outDir, Npy.FileNameFor(output));
                Assert.True(File.Exists(produced), $"kiln run did not write {produced}");
                AssertClose($"{name}/{output}", Npy.Read(file), Npy.Read(produced));
            }
        }
        finally
        {
            if (Directory.Exists(outDir)) Directory.Delete(outDir, true);
        }
    }
}
