using Kiln.Ir;

namespace Kiln.Compiler.Passes.Decompositions;

/// <summary>Operators of ai.onnx.ml that are compositions of standard ones: Binarizer and ArrayFeatureExtractor.</summary>
public static class MlDecomposition
{
    /// <summary>Binarizer: 1 where X &gt; threshold, else 0, in X's type; compared in float64 as the reference does (a float threshold against integers too).</summary>
    public static Value?[] Binarizer(DecompositionBuilder b, Operation op)
    {
        var x = op.Input(0);
        var type = x.TensorType.ElementType;
        var wide = type == ElementType.Float64 ? x : b.Add("Cast", [x], DecompositionBuilder.Attrs(("to", AttributeValue.Int((long)ElementType.Float64))));
        var above = b.Add("Greater", [wide, b.Scalar(ElementType.Float64, op.GetFloat("threshold", 0))]);
        return [b.Add("Cast", [above], DecompositionBuilder.Attrs(("to", AttributeValue.Int((long)type))))];
    }

    /// <summary>
    /// ArrayFeatureExtractor(X, Y): a Gather along X's last axis with Y flattened; a 1-D X gives
    /// [1, len(Y)]. Indices are checked by the Gather kernel (it also accepts negative ones, which
    /// the reference refuses).
    /// </summary>
    public static Value?[] ArrayFeatureExtractor(DecompositionBuilder b, Operation op)
    {
        var x = op.Input(0);
        if (x.TensorType.Shape is not { IsRanked: true } shape || shape.Rank == 0)
            throw new KilnException(ErrorCode.UnsupportedOperator, $"{op.Describe()}: not supported by the compiled path: the input needs a known rank of at least 1");
        var indices = b.Add("Reshape", [op.Input(1), b.Int64s(-1)]);
        var gathered = b.Add("Gather", [x, indices], DecompositionBuilder.Attrs(("axis", AttributeValue.Int(-1))));
        return [shape.Rank == 1 ? b.Add("Reshape", [gathered, b.Int64s(1, -1)]) : gathered];
    }
}
