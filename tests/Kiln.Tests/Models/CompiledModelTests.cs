using Kiln.Cli;
using Kiln.Ir;
using Kiln.Runtime;
using Kiln.Runtime.Vm;

namespace Kiln.Tests.Models;

/// <summary>
/// The real models through the compiled path beyond one run per device: specialized to their
/// manifest's input shapes with --shape, the same module giving the same bits on both devices,
/// and one dynamically shaped module running the detection model at two input sizes.
/// </summary>
public class CompiledModelTests
{
    /// <summary>`kiln run --shape NAME=DIMS ...` for every input, at the shapes of the manifest's inputs.</summary>
    [SkippableTheory]
    [MemberData(nameof(RealModelTests.ModelNames), MemberType = typeof(RealModelTests))]
    public void SpecializedMatchesOnnxRuntime(string name)
    {
        Skip.If(name.Length == 0, SharedData.MissingMessage);
        var manifest = RealModelTests.ReadManifest(name);
        var shapes = manifest.Inputs.SelectMany(i => new[] { "--shape", $"{i.Name}={string.Join('x', Npy.Read(i.File).Shape)}" });
        RealModelTests.RunAndCompare(name, RealModelTests.CompiledErrorFactor, ["--device", "task", .. shapes]);
    }

    [SkippableTheory]
    [MemberData(nameof(RealModelTests.ModelNames), MemberType = typeof(RealModelTests))]
    public void BothDevicesGiveTheSameBits(string name)
    {
        Skip.If(name.Length == 0, SharedData.MissingMessage);
        var manifest = RealModelTests.ReadManifest(name);
        using var module = Module.Load(ModelRunner.Compile(manifest.ModelPath, null).Bytes);
        var inputs = manifest.Inputs.ToDictionary(i => i.Name, i => Npy.Read(i.File));
        var sync = ModelRunner.RunModule(module, "sync", inputs);
        var task = ModelRunner.RunModule(module, "task", inputs);
        Assert.Equal(sync.Select(o => o.Name), task.Select(o => o.Name));
        for (int i = 0; i < sync.Count; i++)
            Assert.True(sync[i].Value.BitwiseEquals(task[i].Value), $"{name}/{sync[i].Name}: the devices disagree");
    }

    /// <summary>
    /// PP-OCR detection takes any N, H, W: one module (compiled without --shape) runs the manifest's
    /// 640x640 input (checked against ONNX Runtime) and a 1x3x96x160 input (checked against the
    /// reference evaluator, with the suite's rule).
    /// </summary>
    [SkippableFact]
    public void OneDynamicModuleRunsDetectionAtTwoSizes()
    {
        Skip.If(SharedData.Models is null, SharedData.MissingMessage);
        const string name = "ch_PP-OCRv4_det_infer";
        var manifest = RealModelTests.ReadManifest(name);
        var compiled = ModelRunner.Compile(manifest.ModelPath, null);
        Assert.Contains(compiled.Plan.Inputs, i => i.Tensor != null && i.Tensor.Shape.Any(d => !d.IsKnown)); // really dynamic
        using var module = Module.Load(compiled.Bytes);

        var (inputName, inputFile) = manifest.Inputs[0];
        var large = ModelRunner.RunModule(module, "task", new Dictionary<string, TensorData> { [inputName] = Npy.Read(inputFile) });
        var (outputName, outputFile) = manifest.Outputs[0];
        var ort = Npy.Read(outputFile);
        Assert.Equal(ort.Shape, large[0].Value.Shape);
        for (long i = 0; i < ort.ElementCount; i++)
            Assert.True(RealModelTests.Close(large[0].Value.GetDouble(i), ort.GetDouble(i)), $"{outputName}[{i}] at 640x640");

        var random = new Random(7);
        var small = TensorData.FromFloats([1, 3, 96, 160], Enumerable.Range(0, 3 * 96 * 160).Select(_ => (float)random.NextDouble() * 2 - 1).ToArray());
        var inputs = new Dictionary<string, TensorData> { [inputName] = small };
        var actual = ModelRunner.RunModule(module, "sync", inputs)[0].Value;
        var expected = ModelRunner.RunReference(manifest.ModelPath, inputs)[0].Value;
        Assert.Equal([1L, 1, 96, 160], actual.Shape);
        Assert.Equal(expected.Shape, actual.Shape);
        for (long i = 0; i < expected.ElementCount; i++)
            Assert.True(RealModelTests.Close(actual.GetDouble(i), expected.GetDouble(i)), $"{outputName}[{i}] at 96x160: {actual.GetDouble(i)} vs {expected.GetDouble(i)}");
    }
}
