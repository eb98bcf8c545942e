using Kiln.Compiler;
using Kiln.Conformance;
using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime.Vm;
using static Kiln.Tests.Compiler.RecurrentDecompositionTests;

namespace Kiln.Tests.Compiler;

/// <summary>
/// The training optimizers (Adagrad, Momentum, Adam) and the ai.onnx.ml compositions (Binarizer,
/// ArrayFeatureExtractor) through their decompositions, against the reference evaluator: one
/// compiled module run on several inputs (the first update T = 0 and later ones, several tensors
/// of different types, integer inputs).
/// </summary>
public sealed class OptimizerDecompositionTests
{
    private static Model Parse(string text)
    {
        var model = new Model(IrParser.ParseGraph(text));
        model.OpsetImports[""] = 21;
        model.OpsetImports["ai.onnx.preview.training"] = 1;
        model.OpsetImports["ai.onnx.ml"] = 3;
        ShapeInference.Run(model.Graph);
        return model;
    }

    private static void Agrees(string text, string device, double tolerance, params DataValue[][] inputSets)
    {
        var compiled = KilnCompiler.Compile(Parse(text), new CompileOptions());
        using var module = Kiln.Runtime.Module.Load(compiled.Bytes);
        using var dev = CompiledEngine.CreateDevice(device);
        using var context = new Instance().CreateContext(module, dev);
        foreach (var inputs in inputSets)
        {
            var expected = new ReferenceEvaluator().Run(Parse(text).Graph, inputs);
            var views = inputs.Select((v, i) => CompiledEngine.ToView(v, i)).ToArray();
            var actual = context.GetFunction("main").Invoke(views).Select(CompiledEngine.FromView).ToArray();
            foreach (var v in views) v.Dispose();
            Assert.Equal(expected.Count, actual.Length);
            for (int i = 0; i < actual.Length; i++)
            {
                var e = (TensorData)expected[i];
                Assert.Equal(e.Shape, actual[i].Shape);
                Assert.Equal(e.ElementType, actual[i].ElementType);
                for (long j = 0; j < e.ElementCount; j++)
                {
                    double want = e.GetDouble(j), got = actual[i].GetDouble(j);
                    Assert.True(Math.Abs(want - got) <= tolerance * (1 + Math.Abs(want)), $"output {i} element {j}: expected {want}, got {got}");
                }
            }
        }
    }

    private static TensorData F32(int seed, params long[] shape) => Random(ElementType.Float32, seed, shape);
    private static TensorData F64(int seed, params long[] shape) => Conversions.Convert(Random(ElementType.Float32, seed, shape), ElementType.Float64);
    private static TensorData Positive(TensorData t) => Conversions.Convert(
        TensorData.FromFloats(t.Shape, Enumerable.Range(0, (int)t.ElementCount).Select(i => (float)Math.Abs(t.GetDouble(i)) + 0.1f).ToArray()), t.ElementType);
    private static TensorData Rate(float r) => TensorData.Scalar(ElementType.Float32, r);
    private static TensorData Step(long t) => TensorData.Scalar(ElementType.Int64, t);

    private const string Adam = """
        graph @main(%r: f32[], %t: i64[], %x1: f32[3,2], %x2: f64[4], %g1: f32[3,2], %g2: f64[4], %v1: f32[3,2], %v2: f64[4], %h1: f32[3,2], %h2: f64[4]) {
          %y1, %y2, %nv1, %nv2, %nh1, %nh2 = ai.onnx.preview.training.Adam(%r, %t, %x1, %x2, %g1, %g2, %v1, %v2, %h1, %h2) {alpha = 0.85, beta = 0.95, epsilon = 0.001, norm_coefficient = 0.1, norm_coefficient_post = 0.05} : f32[3,2], f64[4], f32[3,2], f64[4], f32[3,2], f64[4]
          return %y1, %y2, %nv1, %nv2, %nh1, %nh2
        }
        """;

    [Theory]
    [InlineData("sync")]
    [InlineData("task")]
    public void Adam_first_and_later_updates(string device)
    {
        DataValue[] Inputs(long t) => [Rate(0.1f), Step(t), F32(1, 3, 2), F64(2, 4), F32(3, 3, 2), F64(4, 4), F32(5, 3, 2), F64(6, 4), Positive(F32(7, 3, 2)), Positive(F64(8, 4))];
        Agrees(Adam, device, 1e-6, Inputs(0), Inputs(1), Inputs(7));
    }

    private const string Momentum = """
        graph @main(%r: f32[], %t: i64[], %x: f32[5], %g: f32[5], %v: f32[5]) {
          %y, %nv = ai.onnx.preview.training.Momentum(%r, %t, %x, %g, %v) {alpha = 0.9, beta = 0.5, mode = "MODE", norm_coefficient = 0.01} : f32[5], f32[5]
          return %y, %nv
        }
        """;

    [Theory]
    [InlineData("standard")]
    [InlineData("nesterov")]
    public void Momentum_first_and_later_updates(string mode)
    {
        DataValue[] Inputs(long t) => [Rate(0.2f), Step(t), F32(11, 5), F32(12, 5), F32(13, 5)];
        Agrees(Momentum.Replace("MODE", mode), "sync", 1e-6, Inputs(0), Inputs(4));
    }

    private const string Adagrad = """
        graph @main(%r: f32[], %t: i64[], %x: f64[2,3], %g: f64[2,3], %h: f64[2,3]) {
          %y, %nh = ai.onnx.preview.training.Adagrad(%r, %t, %x, %g, %h) {decay_factor = 0.25, epsilon = 0.0001, norm_coefficient = 0.02} : f64[2,3], f64[2,3]
          return %y, %nh
        }
        """;

    [Fact]
    public void Adagrad_with_decay()
    {
        DataValue[] Inputs(long t) => [Rate(0.3f), Step(t), F64(21, 2, 3), F64(22, 2, 3), Positive(F64(23, 2, 3))];
        Agrees(Adagrad, "sync", 1e-9, Inputs(0), Inputs(3));
    }

    private const string Binarizer = """
        graph @main(%x: i32[2,3], %f: f32[4]) {
          %y = ai.onnx.ml.Binarizer(%x) {threshold = 0.5} : i32[2,3]
          %z = ai.onnx.ml.Binarizer(%f) {threshold = -0.25} : f32[4]
          return %y, %z
        }
        """;

    [Fact]
    public void Binarizer_compares_integers_with_a_float_threshold() =>
        Agrees(Binarizer, "sync", 0, [TensorData.Create(ElementType.Int32, [2, 3], new[] { -1, 0, 1, 2, 0, 5 }), TensorData.FromFloats([4], [-1f, -0.25f, 0f, 0.5f])]);

    private const string Extractor = """
        graph @main(%x: f32[5], %m: i64[2,4], %i: i64[3]) {
          %y = ai.onnx.ml.ArrayFeatureExtractor(%x, %i) : f32[1,3]
          %z = ai.onnx.ml.ArrayFeatureExtractor(%m, %i) : i64[2,3]
          return %y, %z
        }
        """;

    [Fact]
    public void ArrayFeatureExtractor_of_a_vector_and_a_matrix() =>
        Agrees(Extractor, "sync", 0,
            [F32(31, 5), TensorData.FromInt64s([2, 4], [1, 2, 3, 4, 5, 6, 7, 8]), TensorData.Vector(3, 0, 3)],
            [F32(32, 5), TensorData.FromInt64s([2, 4], [1, 2, 3, 4, 5, 6, 7, 8]), TensorData.Vector(1, 1, 2)]);
}
