using Kiln.Ir;
using Kiln.Ops;

namespace Kiln.Onnx;

/// <summary>
/// Upgrades of the elementwise operators' older forms: the explicit 'broadcast'/'axis' attributes
/// of binary operators before opset 7, PRelu's per-channel slope before opset 7, Clip's min/max
/// attributes before opset 11, Cast's textual type name before opset 6, and the
/// 'consumed_inputs' attribute of opset 1.
/// </summary>
[OnnxUpgrades]
public static class ElementwiseUpgrades
{
    private static readonly string[] LegacyBroadcastOps = ["Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Greater", "Less"];

    private static readonly string[] ConsumedInputsOps =
        ["Abs", "Add", "Ceil", "Clip", "Div", "Elu", "Exp", "Floor", "HardSigmoid", "LeakyRelu", "Log", "Max", "Mean", "Min",
         "Mul", "Neg", "PRelu", "Reciprocal", "Relu", "Selu", "Sigmoid", "Sqrt", "Sub", "Sum", "Tanh"];

    public static void Register(UpgradeRegistry r)
    {
        // An opset-1 hint for memory reuse, without meaning.
        foreach (var op in ConsumedInputsOps) r.Add(op, 6, ctx => ctx.Take("consumed_inputs"));
        foreach (var op in LegacyBroadcastOps) r.Add(op, 7, LegacyBroadcast);
        r.Add("PRelu", 7, ChannelSlope);
        r.Add("Clip", 11, BoundsToInputs);
        r.Add("Cast", 6, TypeNameToCode);
    }

    /// <summary>
    /// broadcast=1 let B (of lower rank) match A's dimensions starting at 'axis' (default: the
    /// trailing ones, as numpy does). B gets trailing 1s so that numpy broadcasting aligns it there.
    /// Without broadcast=1 the shapes had to be equal, which the newer form accepts too.
    /// </summary>
    private static void LegacyBroadcast(NodeUpgradeContext ctx)
    {
        var broadcast = ctx.Take("broadcast");
        var axis = ctx.Take("axis");
        if (broadcast is null || broadcast.AsInt() == 0 || axis is null) return;
        AlignAt(ctx, 1, axis.AsInt());
    }

    /// <summary>Before opset 7 a rank-1 slope of PRelu held one value per channel (dimension 1 of X).</summary>
    private static void ChannelSlope(NodeUpgradeContext ctx)
    {
        if (ctx.Input(1) is { } slope && KnownType(slope) is { Shape: { IsRanked: true, Rank: 1 } shape } && !(shape[0].IsKnown && shape[0].Value == 1))
            AlignAt(ctx, 1, 1);
    }

    /// <summary>
    /// Makes input <paramref name="b"/> line up with input 0 from dimension <paramref name="axis"/>
    /// under numpy broadcasting, by reshaping it to its own shape followed by 1s up to input 0's rank.
    /// </summary>
    private static void AlignAt(NodeUpgradeContext ctx, int b, long axis)
    {
        var a = ctx.Input(0) ?? throw ctx.Error("input 0 is missing");
        var bValue = ctx.Input(b) ?? throw ctx.Error($"input {b} is missing");
        if (KnownType(bValue) is not { Shape.IsRanked: true } bType)
            throw ctx.Error($"broadcasting input {b} along axis {axis} needs its rank to be known");
        int rankB = bType.Shape.Rank;
        long? rankA = KnownType(a) is { Shape.IsRanked: true } aType ? aType.Shape.Rank : null;
        // A negative axis counts from A's end, which fixes the number of trailing 1s without A's rank.
        long? trailing = axis < 0 ? -axis - rankB : rankA - axis - rankB;
        if (trailing < 0 || axis >= rankA)
            throw ctx.Error($"input {b} of rank {rankB} does not fit at axis {axis} of input 0 (rank {rankA})");
        if (trailing == 0) return;

        Value target;
        if (trailing is { } count)
        {
            // Reshape's 0 copies B's own size.
            var dims = Enumerable.Repeat(0L, rankB).Concat(Enumerable.Repeat(1L, (int)count)).ToArray();
            target = ctx.Constant(TensorData.Vector(dims), "legacy_broadcast_shape");
        }
        else
        {
            // A's rank is known only at run time: one 1 for each dimension of A after B's span.
            var after = ctx.Add("Shape", [a], new Dictionary<string, AttributeValue> { ["start"] = AttributeValue.Int(axis + rankB) });
            var zeros = ctx.Add("Mul", [after, ctx.Constant(TensorData.Scalar(ElementType.Int64, 0L))]);
            var ones = ctx.Add("Add", [zeros, ctx.Constant(TensorData.Scalar(ElementType.Int64, 1L))]);
            target = ctx.Add("Concat", [ctx.Add("Shape", [bValue]), ones], new Dictionary<string, AttributeValue> { ["axis"] = AttributeValue.Int(0) });
        }
        ctx.SetInput(b, ctx.Add("Reshape", [bValue, target], hint: "legacy_broadcast"));
    }

    /// <summary>
    /// The type of a graph input or constant. Results of other operations have only a placeholder
    /// type during import (inference runs afterwards), so they count as unknown.
    /// </summary>
    private static TensorType? KnownType(Value v) =>
        v.Producer is null || v.Producer.OpType == "Constant" ? v.Type as TensorType : null;

    /// <summary>Clip's min and max became optional inputs in opset 11; absent bounds stay absent.</summary>
    private static void BoundsToInputs(NodeUpgradeContext ctx)
    {
        var x = ctx.Input(0) ?? throw ctx.Error("input 0 is missing");
        var min = ctx.Take("min");
        var max = ctx.Take("max");
        ctx.SetInput(1, min is null ? null : Bound(ctx, x, min.AsFloat(), "clip_min"));
        ctx.SetInput(2, max is null ? null : Bound(ctx, x, max.AsFloat(), "clip_max"));
        while (ctx.Inputs.Count > 1 && ctx.Inputs[^1] is null) ctx.Inputs.RemoveAt(ctx.Inputs.Count - 1);
    }

    /// <summary>A scalar of x's element type; through CastLike when that type is not known yet.</summary>
    private static Value Bound(NodeUpgradeContext ctx, Value x, float value, string hint)
    {
        var scalar = TensorData.Scalar(ElementType.Float32, value);
        if (KnownType(x) is { ElementType: var et } && et.IsFloat())
            return ctx.Constant(Conversions.Convert(scalar, et), hint);
        return ctx.Add("CastLike", [ctx.Constant(scalar, hint), x], hint: hint);
    }

    /// <summary>Before opset 6 Cast named its target type in text: "FLOAT", "INT64", ...</summary>
    private static void TypeNameToCode(NodeUpgradeContext ctx)
    {
        if (!ctx.Attributes.TryGetValue("to", out var to) || to.Kind != AttributeKind.String) return;
        string name = to.AsString();
        // The ONNX spelling of a type, upper-cased, is its TensorProto.DataType name.
        var type = Enum.GetValues<ElementType>().FirstOrDefault(t => t != ElementType.Undefined && t.OnnxName().ToUpperInvariant() == name);
        if (type == ElementType.Undefined) throw ctx.Error($"'to' names no element type: '{name}'");
        ctx.Attributes["to"] = AttributeValue.Int((long)type);
    }
}
