using System.Collections.Frozen;
using Kiln.Ir;

namespace Kiln.Compiler.Passes.Decompositions;

/// <summary>
/// Which operators <see cref="Decompose"/> rewrites, by qualified type ("Attention",
/// "ai.onnx.preview.FlexAttention"). A rewrite builds the replacement through the
/// <see cref="DecompositionBuilder"/> and returns the values that replace the operation's results
/// (null for an absent optional result). Immutable once built; thread-safe.
/// </summary>
public sealed class DecompositionRegistry
{
    public delegate Value?[] Rewrite(DecompositionBuilder b, Operation op);

    private readonly FrozenDictionary<string, Rewrite> _rewrites;

    public DecompositionRegistry(IReadOnlyDictionary<string, Rewrite> rewrites) => _rewrites = rewrites.ToFrozenDictionary();

    /// <summary>Every decomposition Kiln has.</summary>
    public static DecompositionRegistry Default { get; } = new(new Dictionary<string, Rewrite>
    {
        // Registered by the files of this folder, one operator family per file.
        ["MatMulInteger"] = QuantizedDecomposition.MatMulInteger,
        ["ConvInteger"] = QuantizedDecomposition.ConvInteger,
        ["QLinearMatMul"] = QuantizedDecomposition.QLinearMatMul,
        ["QLinearConv"] = QuantizedDecomposition.QLinearConv,
        ["DynamicQuantizeLinear"] = QuantizedDecomposition.DynamicQuantizeLinear,
        ["Attention"] = AttentionDecomposition.Rewrite,
        ["ai.onnx.preview.FlexAttention"] = FlexAttentionDecomposition.Rewrite,
        ["SwiGLU"] = SwiGluDecomposition.Rewrite,
        ["CausalConvWithState"] = CausalConvWithStateDecomposition.Rewrite,
        ["RotaryEmbedding"] = RotaryEmbeddingDecomposition.Rewrite,
        ["LinearAttention"] = LinearAttentionDecomposition.Rewrite,
        ["RNN"] = RecurrentDecomposition.Rnn,
        ["GRU"] = RecurrentDecomposition.Gru,
        ["LSTM"] = RecurrentDecomposition.Lstm,
        ["ai.onnx.preview.training.Adagrad"] = OptimizerDecomposition.Adagrad,
        ["ai.onnx.preview.training.Momentum"] = OptimizerDecomposition.Momentum,
        ["ai.onnx.preview.training.Adam"] = OptimizerDecomposition.Adam,
        ["ai.onnx.ml.Binarizer"] = MlDecomposition.Binarizer,
        ["ai.onnx.ml.ArrayFeatureExtractor"] = MlDecomposition.ArrayFeatureExtractor,
    });

    public bool TryGet(Operation op, out Rewrite rewrite) => _rewrites.TryGetValue(op.QualifiedType, out rewrite!);
}
