using Kiln.Compiler;
using Kiln.Conformance;
using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime;
using Kiln.Runtime.Vm;

namespace Kiln.Tests.Compiler;

/// <summary>
/// RNN, GRU and LSTM through their Scan decomposition, against the reference evaluator, on what
/// the conformance cases do not reach: symbolic sequence lengths (one compiled module run at two
/// lengths), bidirectional and reverse layers, batch-major layout, sequence_lens (with an empty
/// sequence), clip, linear_before_reset, input_forget, activations with parameters, float16.
/// </summary>
public sealed class RecurrentDecompositionTests
{
    private static Model Parse(string text, int opset)
    {
        var model = new Model(IrParser.ParseGraph(text));
        model.OpsetImports[""] = opset;
        ShapeInference.Run(model.Graph);
        return model;
    }

    /// <summary>Deterministic values in [-1, 1).</summary>
    internal static TensorData Random(ElementType type, int seed, params long[] shape)
    {
        var rng = new Random(seed);
        long count = shape.Aggregate(1L, (a, d) => a * d);
        var values = Enumerable.Range(0, (int)count).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        return type == ElementType.Float16
            ? TensorData.Create(type, shape, values.Select(v => (Half)v).ToArray())
            : TensorData.FromFloats(shape, values);
    }

    private static TensorData Lengths(params int[] lengths) => TensorData.Create(ElementType.Int32, [lengths.Length], lengths);

    /// <summary>Compiles once, then runs every input set on the device and compares each output with the reference evaluator's.</summary>
    private static void AssertMatchesReference(string text, string device, double tolerance, params DataValue[][] inputSets) =>
        AssertMatchesReference(text, 22, device, tolerance, inputSets);

    internal static void AssertMatchesReference(string text, int opset, string device, double tolerance, params DataValue[][] inputSets)
    {
        var compiled = KilnCompiler.Compile(Parse(text, opset), new CompileOptions());
        using var module = Module.Load(compiled.Bytes);
        using var dev = CompiledEngine.CreateDevice(device);
        using var context = new Instance().CreateContext(module, dev);
        foreach (var inputs in inputSets)
        {
            var expected = new ReferenceEvaluator().Run(Parse(text, opset).Graph, inputs);
            var views = inputs.Select((v, i) => CompiledEngine.ToView(v, i)).ToArray();
            var actual = context.GetFunction("main").Invoke(views).Select(CompiledEngine.FromView).ToArray();
            foreach (var v in views) v.Dispose();
            Assert.Equal(expected.Count, actual.Length);
            for (int i = 0; i < actual.Length; i++)
            {
                var e = (TensorData)expected[i];
                var a = actual[i];
                Assert.Equal(e.Shape, a.Shape);
                Assert.Equal(e.ElementType, a.ElementType);
                for (long j = 0; j < e.ElementCount; j++)
                {
                    double want = e.GetDouble(j), got = a.GetDouble(j);
                    Assert.True(Math.Abs(want - got) <= tolerance * (1 + Math.Abs(want)), $"output {i} element {j}: expected {want}, got {got}");
                }
            }
        }
    }

    // Bidirectional LSTM over a symbolic number of steps T and batch N, with every optional operand.
    private const string BidirectionalLstm = """
        graph @main(%X: f32[T,N,2], %W: f32[2,12,2], %R: f32[2,12,3], %B: f32[2,24], %lens: i32[N], %h0: f32[2,N,3], %c0: f32[2,N,3], %P: f32[2,9]) {
          %Y, %Y_h, %Y_c = LSTM(%X, %W, %R, %B, %lens, %h0, %c0, %P) {direction = "bidirectional", hidden_size = 3} : f32[T,2,N,3], f32[2,N,3], f32[2,N,3]
          return %Y, %Y_h, %Y_c
        }
        """;

    private static DataValue[] LstmInputs(long steps, params int[] lengths)
    {
        long n = lengths.Length;
        return [Random(ElementType.Float32, 1, steps, n, 2), Random(ElementType.Float32, 2, 2, 12, 2), Random(ElementType.Float32, 3, 2, 12, 3),
            Random(ElementType.Float32, 4, 2, 24), Lengths(lengths), Random(ElementType.Float32, 5, 2, n, 3),
            Random(ElementType.Float32, 6, 2, n, 3), Random(ElementType.Float32, 7, 2, 9)];
    }

    [Theory]
    [InlineData("sync")]
    [InlineData("task")]
    public void Lstm_with_symbolic_sequence_length_runs_at_two_lengths(string device) =>
        AssertMatchesReference(BidirectionalLstm, device, 1e-5, LstmInputs(3, 3, 1, 2), LstmInputs(5, 5, 0, 4, 2));

    // Reverse, batch-major GRU with linear_before_reset, clip and sequence_lens.
    private const string ReverseGru = """
        graph @main(%X: f32[3,T,4], %W: f32[1,15,4], %R: f32[1,15,5], %B: f32[1,30], %lens: i32[3], %h0: f32[3,1,5]) {
          %Y, %Y_h = GRU(%X, %W, %R, %B, %lens, %h0) {clip = 0.75, direction = "reverse", hidden_size = 5, layout = 1, linear_before_reset = 1} : f32[3,T,1,5], f32[3,1,5]
          return %Y, %Y_h
        }
        """;

    [Theory]
    [InlineData("sync")]
    [InlineData("task")]
    public void Gru_reverse_batch_major_with_linear_before_reset_and_clip(string device) =>
        AssertMatchesReference(ReverseGru, device, 1e-5,
            [Random(ElementType.Float32, 11, 3, 4, 4), Random(ElementType.Float32, 12, 1, 15, 4), Random(ElementType.Float32, 13, 1, 15, 5),
             Random(ElementType.Float32, 14, 1, 30), Lengths(4, 2, 3), Random(ElementType.Float32, 15, 3, 1, 5)]);

    // Bidirectional RNN with one activation per direction, taking alpha and beta in order; only Y kept.
    private const string ParameterizedRnn = """
        graph @main(%X: f32[4,2,3], %W: f32[2,4,3], %R: f32[2,4,4]) {
          %Y = RNN(%X, %W, %R) {activation_alpha = floats[0.1, 0.5], activation_beta = floats[0.25], activations = strings["LeakyRelu", "ScaledTanh"], direction = "bidirectional", hidden_size = 4} : f32[4,2,2,4]
          return %Y
        }
        """;

    [Fact]
    public void Rnn_bidirectional_with_parameterized_activations() =>
        AssertMatchesReference(ParameterizedRnn, "sync", 1e-5,
            [Random(ElementType.Float32, 21, 4, 2, 3), Random(ElementType.Float32, 22, 2, 4, 3), Random(ElementType.Float32, 23, 2, 4, 4)]);

    // Float16 LSTM with input_forget, keeping only Y_c.
    private const string HalfLstm = """
        graph @main(%X: f16[3,2,2], %W: f16[1,16,2], %R: f16[1,16,4]) {
          _, _, %Y_c = LSTM(%X, %W, %R) {hidden_size = 4, input_forget = 1} : f16[1,2,4]
          return %Y_c
        }
        """;

    [Fact]
    public void Lstm_float16_with_input_forget() =>
        AssertMatchesReference(HalfLstm, "sync", 2e-3,
            [Random(ElementType.Float16, 31, 3, 2, 2), Random(ElementType.Float16, 32, 1, 16, 2), Random(ElementType.Float16, 33, 1, 16, 4)]);
}
