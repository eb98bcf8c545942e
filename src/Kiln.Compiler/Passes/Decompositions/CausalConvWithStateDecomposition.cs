using Kiln.Ir;

namespace Kiln.Compiler.Passes.Decompositions;

/// <summary>
/// CausalConvWithState: the input [batch, channels, length] is prefixed with its past state
/// [batch, channels, k-1] (zeros when absent), convolved depthwise (Conv with group = channels,
/// which pads nothing, so the output keeps the input's length), optionally followed by SiLU
/// (Swish with alpha 1); present_state is the last k-1 positions of the prefixed input.
/// </summary>
public static class CausalConvWithStateDecomposition
{
    private const int Input = 0, Weight = 1, Bias = 2, PastState = 3;

    public static Value?[] Rewrite(DecompositionBuilder b, Operation op)
    {
        Value x = op.Input(Input), w = op.Input(Weight);
        Value? bias = op.OptionalInput(Bias), past = op.OptionalInput(PastState);
        var xType = x.TensorType;
        Shape xs = xType.Shape, ws = w.TensorType.Shape;
        if (!xs.IsRanked || xs.Rank != 3 || !ws.IsRanked || ws.Rank != 3 || !xs[1].IsKnown)
            throw new KilnException(ErrorCode.UnsupportedOperator,
                $"{op.Describe()}: decomposing needs rank-3 input and weight with a static channel count, got {xs} and {ws}");
        bool silu = op.GetString("activation", "none") switch
        {
            "none" => false,
            "silu" or "swish" => true,
            var a => throw new KilnException(ErrorCode.UnsupportedOperator, $"{op.Describe()}: unknown activation \"{a}\""),
        };

        // k - 1, as a one-element int64 vector: a constant when the kernel size is static.
        Value carry = ws[2].IsKnown
            ? b.Int64s(ws[2].Value - 1)
            : b.Add("Sub", [b.Add("Shape", [w], DecompositionBuilder.Attrs(("start", AttributeValue.Int(2)), ("end", AttributeValue.Int(3)))), b.Int64s(1)]);

        bool noCarry = ws[2].IsKnown && ws[2].Value == 1;
        Value padded;
        if (past is not null) padded = b.Add("Concat", [past, x], Axis(2));
        else if (noCarry) padded = x;
        else
        {
            // Zeros [batch, channels, k-1]; the batch may be symbolic, so the shape is computed.
            var batchChannels = b.Add("Shape", [x], DecompositionBuilder.Attrs(("start", AttributeValue.Int(0)), ("end", AttributeValue.Int(2))));
            var zerosShape = b.Add("Concat", [batchChannels, carry], Axis(0));
            var zeros = b.Add("ConstantOfShape", [zerosShape],
                DecompositionBuilder.Attrs(("value", AttributeValue.Tensor(TensorData.Zeros(xType.ElementType, 1)))));
            padded = b.Add("Concat", [zeros, x], Axis(2));
        }

        Value output = b.Add("Conv", bias is null ? [padded, w] : [padded, w, bias],
            DecompositionBuilder.Attrs(("group", AttributeValue.Int(xs[1].Value))));
        if (silu) output = b.Add("Swish", [output], DecompositionBuilder.Attrs(("alpha", AttributeValue.Float(1))));

        Value? present = null;
        if (op.HasOutput(1))
        {
            if (ws[2].IsKnown && ws[2].Value > 1 && !xs[2].IsKnown)
            {
                // A symbolic length: the compiled Slice needs constant bounds, so the last k-1
                // positions (L .. L+k-2 of the prefixed input) are gathered at indices computed at run time.
                var length = b.Add("Shape", [x], DecompositionBuilder.Attrs(("start", AttributeValue.Int(2)), ("end", AttributeValue.Int(3))));
                var indices = b.Add("Add", [length, b.Int64s([.. Enumerable.Range(0, (int)ws[2].Value - 1).Select(i => (long)i)])]);
                present = b.Add("Gather", [padded, indices], Axis(2));
            }
            else
            {
                // The last k-1 positions: start at (padded length) - (k-1); with k = 1 that is the end, an empty slice.
                var end = b.Int64s(long.MaxValue);
                var paddedLength = b.Add("Shape", [padded], DecompositionBuilder.Attrs(("start", AttributeValue.Int(2)), ("end", AttributeValue.Int(3))));
                var start = b.Add("Sub", [paddedLength, carry]);
                present = b.Add("Slice", [padded, start, end, b.Int64s(2)]);
            }
        }
        return [output, present];
    }

    private static Dictionary<string, AttributeValue> Axis(long axis) => DecompositionBuilder.Attrs(("axis", AttributeValue.Int(axis)));
}
