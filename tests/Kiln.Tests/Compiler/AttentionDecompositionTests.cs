using Kiln.Compiler;
using Kiln.Conformance;
using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime;
using Kiln.Runtime.Vm;

namespace Kiln.Tests.Compiler;

/// <summary>
/// Attention decomposed with symbolic lengths: compiled once, run at several lengths, each run
/// compared with the reference evaluator. The conformance cases cover the attributes with static
/// shapes; these cover the run-time sizes (Range/Shape-built causal and padding masks, a mask
/// shorter than the keys padded at run time, cache concatenation).
/// </summary>
public sealed class AttentionDecompositionTests
{
    // Grouped-query (4 query heads on 2 key heads), causal with a cache, a boolean mask of M keys (M ≤ P + S).
    private const string GroupedCausalWithCache = """
        graph @main(%q: f32[1,4,S,8], %k: f32[1,2,S,8], %v: f32[1,2,S,6], %past_key: f32[1,2,P,8], %past_value: f32[1,2,P,6], %mask: bool[S,M]) {
          %y, %present_key, %present_value = Attention(%q, %k, %v, %mask, %past_key, %past_value) {is_causal = 1} : f32[*], f32[*], f32[*]
          return %y, %present_key, %present_value
        }
        """;

    // Packed heads (q_num_heads 4, kv_num_heads 2), softcap, causal relative to the valid key counts, scores output.
    private const string PackedNonPadSoftcap = """
        graph @main(%q: f32[2,S,16], %k: f32[2,L,8], %v: f32[2,L,8], %lengths: i64[2]) {
          %y, _, _, %scores = Attention(%q, %k, %v, _, _, _, %lengths) {is_causal = 1, q_num_heads = 4, kv_num_heads = 2, softcap = 2.5, qk_matmul_output_mode = 2} : f32[*], f32[*]
          return %y, %scores
        }
        """;

    private static Model Parse(string text)
    {
        var model = new Model(IrParser.ParseGraph(text));
        model.OpsetImports[""] = 24;
        model.OpsetImports["ai.onnx.preview"] = 1;
        ShapeInference.Run(model.Graph);
        return model;
    }

    private static TensorData Random(Random random, params long[] shape)
    {
        var values = new float[shape.Aggregate(1L, (a, b) => a * b)];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(random.NextDouble() * 2 - 1);
        return TensorData.FromFloats(shape, values);
    }

    private static TensorData Mask(Random random, long rows, long keys)
    {
        var values = new bool[rows * keys];
        for (int i = 0; i < values.Length; i++) values[i] = random.NextDouble() < 0.8;
        return TensorData.Create(ElementType.Bool, [rows, keys], values);
    }

    /// <summary>Compiles once; runs every input set and compares with the reference evaluator (NaN, -inf and values within 1e-5).</summary>
    private static void AssertSameAsReference(string text, string device, params TensorData[][] runs)
    {
        var compiled = KilnCompiler.Compile(Parse(text), new CompileOptions());
        using var module = Module.Load(compiled.Bytes);
        using var dev = CompiledEngine.CreateDevice(device);
        using var context = new Instance().CreateContext(module, dev);
        foreach (var inputs in runs)
        {
            var expected = new ReferenceEvaluator().Run(Parse(text).Graph, inputs);
            var views = inputs.Select((t, i) => CompiledEngine.ToView(t, i)).ToArray();
            try
            {
                var actual = context.GetFunction("main").Invoke(views).Select(CompiledEngine.FromView).ToArray();
                Assert.Equal(expected.Count, actual.Length);
                for (int o = 0; o < actual.Length; o++)
                {
                    var e = (TensorData)expected[o];
                    var a = actual[o];
                    Assert.Equal(e.Shape, a.Shape);
                    for (long i = 0; i < e.ElementCount; i++)
                    {
                        double x = a.GetDouble(i), y = e.GetDouble(i);
                        Assert.True(x.Equals(y) || Math.Abs(x - y) <= 1e-5 + 1e-5 * Math.Abs(y), $"output {o}[{i}]: {x} vs {y}");
                    }
                }
            }
            finally
            {
                foreach (var v in views) v.Dispose();
            }
        }
    }

    private static TensorData[] GroupedInputs(Random r, long s, long p, long m) =>
        [Random(r, 1, 4, s, 8), Random(r, 1, 2, s, 8), Random(r, 1, 2, s, 6), Random(r, 1, 2, p, 8), Random(r, 1, 2, p, 6), Mask(r, s, m)];

    [Theory]
    [InlineData("sync")]
    [InlineData("task")]
    public void Grouped_causal_attention_with_cache_at_two_lengths(string device)
    {
        var r = new Random(7);
        AssertSameAsReference(GroupedCausalWithCache, device,
            GroupedInputs(r, s: 3, p: 2, m: 5),   // the mask covers every key
            GroupedInputs(r, s: 1, p: 6, m: 4),   // decoding one query; keys past the mask's end are masked out
            GroupedInputs(r, s: 4, p: 0, m: 4));  // no cache yet
    }

    [Theory]
    [InlineData("sync")]
    [InlineData("task")]
    public void Packed_attention_with_valid_key_counts_at_two_lengths(string device)
    {
        var r = new Random(11);
        AssertSameAsReference(PackedNonPadSoftcap, device,
            [Random(r, 2, 2, 16), Random(r, 2, 5, 8), Random(r, 2, 5, 8), TensorData.Vector([5L, 3L])],
            [Random(r, 2, 1, 16), Random(r, 2, 7, 8), Random(r, 2, 7, 8), TensorData.Vector([2L, 7L])]);
    }

    // FlexAttention with grouped heads and a score_mod capturing a graph input (a relative bias), inlined.
    private const string FlexWithCapturedBias = """
        graph @main(%q: f32[1,4,3,8], %k: f32[1,2,5,8], %v: f32[1,2,5,4], %bias: f32[3,5]) {
          %y = ai.onnx.preview.FlexAttention(%q, %k, %v) {scale = 0.25, score_mod = graph @score_mod(%scores: f32[1,4,3,5]) {
            %out = Add(%scores, %bias) : f32[1,4,3,5]
            return %out
          }} : f32[*]
          return %y
        }
        """;

    [Theory]
    [InlineData("sync")]
    [InlineData("task")]
    public void Flex_attention_inlines_a_score_mod_that_captures_a_graph_input(string device)
    {
        var r = new Random(3);
        AssertSameAsReference(FlexWithCapturedBias, device, [Random(r, 1, 4, 3, 8), Random(r, 1, 2, 5, 8), Random(r, 1, 2, 5, 4), Random(r, 3, 5)]);
    }

    [Fact]
    public void Grouped_heads_of_unknown_count_are_refused_with_a_typed_error()
    {
        const string text = """
            graph @main(%q: f32[1,H,3,8], %k: f32[1,G,3,8], %v: f32[1,G,3,8]) {
              %y = Attention(%q, %k, %v) : f32[*]
              return %y
            }
            """;
        var error = Assert.Throws<KilnException>(() => KilnCompiler.Compile(Parse(text), new CompileOptions()));
        Assert.Equal(ErrorCode.UnsupportedOperator, error.Code);
        Assert.Contains("grouped-query heads need static head counts", error.Message);
    }
}
