using System.Text.Json;
using Kiln.Ir;

namespace Kiln.Conformance;

/// <summary>
/// One case of the ONNX backend suite: a model and one data set of inputs and expected outputs.
/// Two layouts are understood: a folder with model.onnx and test_data_set_N/{input,output}_K.pb,
/// and the "real" layout (a data.json naming a model in ../light, whose inputs the runner
/// generates as arange(n)/n with unknown dimensions counted as 1).
/// </summary>
public sealed class ConformanceCase
{
    public required string Folder { get; init; }      // node, simple, pytorch-converted, ...
    public required string Name { get; init; }        // test_abs
    public required string ModelPath { get; init; }
    public string? DataSetPath { get; init; }         // test_data_set_0, or null for generated inputs
    public string? ExpectedOutputPath { get; init; }  // real/: the single expected output
    public double RelativeTolerance { get; init; } = 1e-3;
    public double AbsoluteTolerance { get; init; } = 1e-7;

    public string Id => $"{Folder}/{Name}";
    public override string ToString() => Id;

    /// <summary>Every case under a suite folder (e.g. .../onnx-backend/node), sorted by name.</summary>
    public static IReadOnlyList<ConformanceCase> Discover(string directory)
    {
        if (!Directory.Exists(directory))
            throw new KilnException(ErrorCode.Io, $"conformance folder '{directory}' does not exist");
        string folder = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)));
        var cases = new List<ConformanceCase>();
        foreach (var dir in Directory.GetDirectories(directory).Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(dir);
            string model = Path.Combine(dir, "model.onnx");
            string dataJson = Path.Combine(dir, "data.json");
            if (File.Exists(model))
            {
                var set = Directory.GetDirectories(dir, "test_data_set_*").Order(StringComparer.Ordinal).FirstOrDefault();
                if (set is not null) cases.Add(new ConformanceCase { Folder = folder, Name = name, ModelPath = model, DataSetPath = set });
            }
            else if (File.Exists(dataJson))
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(dataJson));
                var root = doc.RootElement;
                string url = root.GetProperty("url").GetString() ?? "";
                string file = Path.GetFileName(url);
                string light = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(directory))!, "light");
                string lightModel = Path.Combine(light, file);
                string output = Path.Combine(light, Path.GetFileNameWithoutExtension(file) + "_output_0.pb");
                if (!File.Exists(lightModel) || !File.Exists(output)) continue;
                cases.Add(new ConformanceCase
                {
                    Folder = folder, Name = name, ModelPath = lightModel, ExpectedOutputPath = output,
                    RelativeTolerance = root.TryGetProperty("rtol", out var r) ? r.GetDouble() : 1e-3,
                    AbsoluteTolerance = root.TryGetProperty("atol", out var a) ? a.GetDouble() : 1e-7,
                });
            }
        }
        return cases;
    }

    public IReadOnlyList<string> InputFiles => DataSetPath is null ? [] : NumberedFiles("input_");
    public IReadOnlyList<string> OutputFiles => DataSetPath is null ? (ExpectedOutputPath is null ? [] : [ExpectedOutputPath]) : NumberedFiles("output_");

    private IReadOnlyList<string> NumberedFiles(string prefix) =>
        Directory.GetFiles(DataSetPath!, prefix + "*.pb")
            .OrderBy(f => int.TryParse(Path.GetFileNameWithoutExtension(f)[prefix.Length..], out int k) ? k : int.MaxValue)
            .ToArray();
}
