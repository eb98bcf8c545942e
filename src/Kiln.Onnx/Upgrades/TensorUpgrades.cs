using Kiln.Ir;

namespace Kiln.Onnx;

/// <summary>
/// Upgrades for the tensor-manipulation operators: attributes that later became inputs (Slice,
/// Split, Squeeze, Unsqueeze, Reshape, Pad, TopK, Dropout), changed defaults (Concat's axis,
/// Split's num_outputs) and the deprecated Scatter.
/// </summary>
[OnnxUpgrades]
public static class TensorUpgrades
{
    public static void Register(UpgradeRegistry r)
    {
        r.Add("Concat", 4, ctx => ctx.Attributes.TryAdd("axis", AttributeValue.Int(1)));

        r.Add("Reshape", 5, ctx =>
        {
            ctx.Take("consumed_inputs");
            MoveIntsToInput(ctx, "shape", 1);
        });

        r.Add("Slice", 10, ctx =>
        {
            if (ctx.Attributes.ContainsKey("axes") && !ctx.Attributes.ContainsKey("starts")) throw ctx.Error("has axes but no starts");
            MoveIntsToInput(ctx, "starts", 1);
            MoveIntsToInput(ctx, "ends", 2);
            MoveIntsToInput(ctx, "axes", 3);
        });

        r.Add("Split", 13, ctx => MoveIntsToInput(ctx, "split", 1));
        // Before 18, no split meant equal pieces, one per output.
        r.Add("Split", 18, ctx =>
        {
            if (ctx.Input(1) is null) ctx.Attributes.TryAdd("num_outputs", AttributeValue.Int(ctx.Outputs.Count));
        });

        r.Add("Squeeze", 13, ctx => MoveIntsToInput(ctx, "axes", 1));
        r.Add("Unsqueeze", 13, ctx =>
        {
            if (!ctx.Attributes.ContainsKey("axes")) throw ctx.Error("has no axes attribute");
            MoveIntsToInput(ctx, "axes", 1);
        });

        r.Add("Pad", 2, ctx =>
        {
            if (ctx.Take("paddings") is { } paddings) ctx.Attributes["pads"] = paddings;
        });
        r.Add("Pad", 11, ctx =>
        {
            if (!ctx.Attributes.ContainsKey("pads")) throw ctx.Error("has no pads attribute");
            MoveIntsToInput(ctx, "pads", 1);
            // The padding value was a float attribute; as an input it has the data's type.
            if (ctx.Take("value")?.AsFloat() is { } value && value != 0)
                ctx.SetInput(2, ctx.Add("CastLike", [ctx.Constant(TensorData.Scalar(ElementType.Float32, value), "pad_value"), ctx.Input(0)]));
        });

        r.Add("TopK", 10, ctx =>
        {
            var k = ctx.Take("k") ?? throw ctx.Error("has no k attribute");
            ctx.SetInput(1, ctx.Constant(TensorData.Vector(k.AsInt()), "k"));
        });

        // Dropout 6 and before: is_test and consumed_inputs are dropped (inference, as ONNX's own
        // version converter does); before 12 the ratio was an attribute.
        r.Add("Dropout", 7, ctx =>
        {
            ctx.Take("is_test");
            ctx.Take("consumed_inputs");
        });
        r.Add("Dropout", 12, ctx =>
        {
            if (ctx.Take("ratio") is { } ratio)
                ctx.SetInput(1, ctx.Constant(TensorData.Scalar(ElementType.Float32, ratio.AsFloat()), "ratio"));
        });

        // Scatter (opsets 9 to 10; deprecated in 11) is ScatterElements without reductions.
        r.Add("Scatter", int.MaxValue, ctx => ctx.OpType = "ScatterElements");
    }

    /// <summary>Moves an ints attribute, when present, to an int64 vector input at the given position.</summary>
    private static void MoveIntsToInput(NodeUpgradeContext ctx, string attribute, int input)
    {
        if (ctx.Take(attribute) is not { } value) return;
        if (ctx.Input(input) is not null) throw ctx.Error($"has both a '{attribute}' attribute and input {input}");
        ctx.SetInput(input, ctx.Constant(TensorData.Vector(value.AsInts()), attribute));
    }
}
