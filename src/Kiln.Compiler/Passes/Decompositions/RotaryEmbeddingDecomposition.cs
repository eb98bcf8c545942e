using Kiln.Ir;

namespace Kiln.Compiler.Passes.Decompositions;

/// <summary>
/// RotaryEmbedding: each pair (x1, x2) of the first rotary_embedding_dim features of a head is
/// rotated by its position's angle: (cos x1 - sin x2, sin x1 + cos x2). Pairs are (c, c + dim/2),
/// or neighbours (2c, 2c + 1) when interleaved. Written as slices, broadcast Mul/Add/Sub and
/// Concat on a rank-4 view of X: [batch, heads, length, head] as given, or the packed
/// [batch, length, heads * head] reshaped to [batch, length, heads, head]. The cos/sin rows
/// [batch, length, dim/2] (gathered by position id, or given) get a unit axis for the heads.
/// </summary>
public static class RotaryEmbeddingDecomposition
{
    public static Value?[] Rewrite(DecompositionBuilder b, Operation op)
    {
        Value x = op.Input(0), cosCache = op.Input(1), sinCache = op.Input(2);
        Value? positionIds = op.OptionalInput(3);
        var shape = x.TensorType.Shape;
        if (!shape.IsRanked || shape.Rank is not (3 or 4) || !shape[^1].IsKnown)
            throw Unsupported(op, $"needs a rank-3 or rank-4 input with a static last dimension, got {shape}");
        bool packed = shape.Rank == 3;
        long heads = op.GetInt("num_heads", 0);
        if (packed && (heads <= 0 || shape[2].Value % heads != 0))
            throw Unsupported(op, $"a rank-3 input needs num_heads dividing {shape[2]}");
        long headSize = packed ? shape[2].Value / heads : shape[3].Value;
        long dim = op.GetInt("rotary_embedding_dim", 0);
        if (dim == 0) dim = headSize;
        if (dim <= 0 || dim > headSize || dim % 2 != 0)
            throw Unsupported(op, $"rotary_embedding_dim {dim} must be even and at most the head size {headSize}");
        long half = dim / 2;
        bool interleaved = op.GetInt("interleaved", 0) != 0;

        // X as [batch, heads, length, head] or [batch, length, heads, head]; the heads axis is where cos/sin broadcast.
        Value view = packed ? b.Add("Reshape", [x, b.Int64s(0, 0, heads, headSize)]) : x;
        long headsAxis = packed ? 2 : 1;

        // cos/sin rows [batch, length, half] -> [batch, 1, length, half] or [batch, length, 1, half].
        Value Rows(Value cache)
        {
            var rows = positionIds is null ? cache : b.Add("Gather", [cache, positionIds]);
            rows = b.Add("Slice", [rows, b.Int64s(0), b.Int64s(half), b.Int64s(2)]);
            return b.Add("Unsqueeze", [rows, b.Int64s(headsAxis)]);
        }
        Value cos = Rows(cosCache), sin = Rows(sinCache);

        Value Features(Value v, long start, long end, long step = 1) =>
            b.Add("Slice", [v, b.Int64s(start), b.Int64s(end), b.Int64s(3), b.Int64s(step)]);

        Value rotated;
        if (!interleaved)
        {
            Value x1 = Features(view, 0, half), x2 = Features(view, half, dim);
            var (real, imaginary) = Rotate(b, x1, x2, cos, sin);
            rotated = b.Add("Concat", [real, imaginary], DecompositionBuilder.Attrs(("axis", AttributeValue.Int(3))));
        }
        else
        {
            // Even and odd features; the rotated pair is put back side by side on a new last axis, then flattened.
            Value x1 = Features(view, 0, dim, 2), x2 = Features(view, 1, dim, 2);
            var (real, imaginary) = Rotate(b, x1, x2, cos, sin);
            var pairs = b.Add("Concat", [b.Add("Unsqueeze", [real, b.Int64s(4)]), b.Add("Unsqueeze", [imaginary, b.Int64s(4)])],
                DecompositionBuilder.Attrs(("axis", AttributeValue.Int(4))));
            rotated = b.Add("Reshape", [pairs, b.Int64s(0, 0, 0, dim)]);
        }
        if (dim < headSize)
            rotated = b.Add("Concat", [rotated, Features(view, dim, headSize)], DecompositionBuilder.Attrs(("axis", AttributeValue.Int(3))));
        return [packed ? b.Add("Reshape", [rotated, b.Int64s(0, 0, -1)]) : rotated];
    }

    private static (Value Real, Value Imaginary) Rotate(DecompositionBuilder b, Value x1, Value x2, Value cos, Value sin) =>
        (b.Add("Sub", [b.Add("Mul", [cos, x1]), b.Add("Mul", [sin, x2])]),
         b.Add("Add", [b.Add("Mul", [sin, x1]), b.Add("Mul", [cos, x2])]));

    private static KilnException Unsupported(Operation op, string why) =>
        new(ErrorCode.UnsupportedOperator, $"{op.Describe()}: RotaryEmbedding decomposition {why}");
}
