using Kiln.Ir;

namespace Kiln.Onnx;

/// <summary>Upgrades of the control-flow operators' older forms.</summary>
[OnnxUpgrades]
public static class ControlFlowUpgrades
{
    public static void Register(UpgradeRegistry r) => r.Add("Scan", 9, UnbatchScan8);

    /// <summary>
    /// Scan-8 runs its body over a batch: every operand has a leading batch axis, scan inputs
    /// are [batch, steps, ...], and the body sees one batch item at a time. That is an outer
    /// Scan over the batch axis whose body runs the original body as a Scan over the steps of one
    /// item: the outer scan slices every operand by batch item and stacks the inner scan's final
    /// states and scan outputs back along the batch axis, the layout Scan-8 produces.
    /// </summary>
    private static void UnbatchScan8(NodeUpgradeContext ctx)
    {
        if (ctx.Inputs.Count > 0 && ctx.Inputs[0] is not null)
            throw new KilnException(ErrorCode.UnsupportedOperator,
                $"Scan node{(ctx.Name.Length > 0 ? $" '{ctx.Name}'" : "")} (opset {ctx.Version}): Scan-8 sequence_lens (per-item sequence lengths) is not supported");
        var body = (ctx.Take("body") ?? throw ctx.Error("has no 'body' attribute")).AsGraph();
        var scanInputs = ctx.Attributes.TryGetValue("num_scan_inputs", out var m) ? m.AsInt() : throw ctx.Error("has no 'num_scan_inputs' attribute");
        var directions = ctx.Take("directions");
        var operands = ctx.Inputs.Skip(1).ToList();
        if (scanInputs < 1 || scanInputs > operands.Count)
            throw ctx.Error($"num_scan_inputs is {scanInputs}, the node has {operands.Count} operands after sequence_lens");
        if (operands.Any(v => v is null)) throw ctx.Error("a state or scan input is missing");

        var perItem = ctx.Graph.CreateNested($"{body.Name}_per_batch_item");
        var itemInputs = operands.Select(v => (Value?)perItem.AddInput($"{v!.Name}_item", new TensorType(ElementType.Undefined, Shape.Unranked))).ToList();
        var innerAttributes = new Dictionary<string, AttributeValue>
        {
            ["body"] = AttributeValue.Graph(body),
            ["num_scan_inputs"] = AttributeValue.Int(scanInputs),
        };
        if (directions is not null) innerAttributes["scan_input_directions"] = directions;
        var inner = perItem.AddOperation("Scan", itemInputs, ctx.Outputs.Select((_, i) => (string?)$"{body.Name}_item_out{i}"), innerAttributes, name: ctx.Name);
        foreach (var v in inner.Outputs) perItem.AddOutput(v!);

        ctx.Inputs.Clear();
        ctx.Inputs.AddRange(operands);
        ctx.Attributes["body"] = AttributeValue.Graph(perItem);
        ctx.Attributes["num_scan_inputs"] = AttributeValue.Int(operands.Count);
    }
}
