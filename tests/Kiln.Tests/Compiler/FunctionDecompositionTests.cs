using Kiln.Ir;
using static Kiln.Tests.Compiler.RecurrentDecompositionTests;

namespace Kiln.Tests.Compiler;

/// <summary>
/// LinearAttention, CausalConvWithState and RotaryEmbedding through their decompositions with
/// symbolic batch and sequence sizes (the conformance cases are all static): one compiled module,
/// run at two sizes, against the reference evaluator.
/// </summary>
public sealed class FunctionDecompositionTests
{
    private static TensorData F32(int seed, params long[] shape) => Random(ElementType.Float32, seed, shape);

    // Gated delta rule, 4 query heads on 2 key/value heads, dk 8, dv 4, with a past state.
    private const string LinearAttention = """
        graph @main(%q: f32[B,T,32], %k: f32[B,T,16], %v: f32[B,T,8], %past: f32[B,2,8,4], %decay: f32[B,T,16], %beta: f32[B,T,2]) {
          %y, %state = LinearAttention(%q, %k, %v, %past, %decay, %beta) {kv_num_heads = 2, q_num_heads = 4} : f32[B,T,16], f32[B,2,8,4]
          return %y, %state
        }
        """;

    private static DataValue[] LinearAttentionInputs(long b, long t) =>
        [F32(1, b, t, 32), F32(2, b, t, 16), F32(3, b, t, 8), F32(4, b, 2, 8, 4), F32(5, b, t, 16), F32(6, b, t, 2)];

    [Theory]
    [InlineData("sync")]
    [InlineData("task")]
    public void LinearAttention_with_symbolic_batch_and_time(string device) =>
        AssertMatchesReference(LinearAttention, 27, device, 1e-5, LinearAttentionInputs(2, 3), LinearAttentionInputs(1, 5));

    // SiLU and bias, no past state (zeros of a symbolic batch), kernel 3.
    private const string CausalConv = """
        graph @main(%x: f32[B,4,L], %w: f32[4,1,3], %bias: f32[4]) {
          %y, %state = CausalConvWithState(%x, %w, %bias) {activation = "silu"} : f32[B,4,L], f32[B,4,2]
          return %y, %state
        }
        """;

    [Fact]
    public void CausalConvWithState_with_symbolic_batch_and_length() =>
        AssertMatchesReference(CausalConv, 27, "sync", 1e-5,
            [F32(11, 2, 4, 6), F32(12, 4, 1, 3), F32(13, 4)], [F32(14, 1, 4, 9), F32(12, 4, 1, 3), F32(13, 4)]);

    // Packed [batch, seq, heads * head] input, interleaved pairs over the first 4 of 8 features.
    private const string Rotary = """
        graph @main(%x: f32[B,S,16], %cos: f32[20,2], %sin: f32[20,2], %pos: i64[B,S]) {
          %y = RotaryEmbedding(%x, %cos, %sin, %pos) {interleaved = 1, num_heads = 2, rotary_embedding_dim = 4} : f32[B,S,16]
          return %y
        }
        """;

    private static TensorData Positions(long b, long s) =>
        TensorData.FromInt64s([b, s], Enumerable.Range(0, (int)(b * s)).Select(i => (long)(i * 7 % 20)).ToArray());

    [Fact]
    public void RotaryEmbedding_with_symbolic_batch_and_sequence() =>
        AssertMatchesReference(Rotary, 23, "sync", 1e-5,
            [F32(21, 2, 3, 16), F32(22, 20, 2), F32(23, 20, 2), Positions(2, 3)],
            [F32(24, 1, 5, 16), F32(22, 20, 2), F32(23, 20, 2), Positions(1, 5)]);
}
