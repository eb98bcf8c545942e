using Kiln.Ir;

namespace Kiln.Onnx;

/// <summary>
/// Upgrades for reductions, softmax and normalizations: axes attributes that became inputs,
/// Softmax's old coercion to 2-D, BatchNormalization's old attributes and outputs, and
/// GroupNormalization's per-group scale and bias.
/// </summary>
[OnnxUpgrades]
public static class ReduceUpgrades
{
    public static void Register(UpgradeRegistry r)
    {
        r.Add("ReduceSum", 13, AxesAttributeToInput);
        foreach (var op in new[] { "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                     "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare" })
            r.Add(op, 18, AxesAttributeToInput);
        foreach (var op in new[] { "Softmax", "LogSoftmax", "Hardmax" })
            r.Add(op, 13, SoftmaxOverFlattenedAxes);
        r.Add("BatchNormalization", 14, BatchNormalizationTrainingMode);
        r.Add("GroupNormalization", 21, GroupNormalizationPerGroupScale);
    }

    private static void AxesAttributeToInput(NodeUpgradeContext ctx)
    {
        if (ctx.Take("axes") is { } axes) ctx.SetInput(1, ctx.Constant(TensorData.Vector(axes.AsInts()), "axes"));
    }

    /// <summary>
    /// Before opset 13 these operators coerced the input to 2-D at 'axis' (default 1) and worked
    /// on the second dimension, i.e. over all axes from 'axis' on. The new form works on one axis,
    /// so: Reshape(op(Flatten(x, axis), axis=-1), Shape(x)). When 'axis' is already the last
    /// axis the two forms agree and only the attribute changes.
    /// </summary>
    private static void SoftmaxOverFlattenedAxes(NodeUpgradeContext ctx)
    {
        long axis = ctx.Take("axis")?.AsInt() ?? 1;
        var x = ctx.Input(0) ?? throw ctx.Error("input 0 is missing");
        ctx.Attributes["axis"] = AttributeValue.Int(-1);
        if (axis == -1 || (x.Type is TensorType { Shape.IsRanked: true } t && axis == t.Shape.Rank - 1)) return;

        var flat = ctx.Add("Flatten", [x], new Dictionary<string, AttributeValue> { ["axis"] = AttributeValue.Int(axis) });
        var result = ctx.Add(ctx.OpType, [flat], new Dictionary<string, AttributeValue>(ctx.Attributes));
        var shape = ctx.Add("Shape", [x]);
        ctx.OpType = "Reshape";
        ctx.Attributes.Clear();
        ctx.Inputs.Clear();
        ctx.Inputs.AddRange([result, shape]);
    }

    /// <summary>
    /// Before opset 14, BatchNormalization had is_test/consumed_inputs/spatial attributes and
    /// trained whenever the running statistics were requested as outputs (with two more,
    /// saved_mean and saved_var). Now training_mode says so, and spatial=0 (statistics per
    /// activation rather than per channel) is spelled out with elementwise operators.
    /// </summary>
    private static void BatchNormalizationTrainingMode(NodeUpgradeContext ctx)
    {
        ctx.Take("consumed_inputs");
        ctx.Take("is_test");
        bool spatial = (ctx.Take("spatial")?.AsInt() ?? 1) != 0;
        if (ctx.Outputs.Skip(3).Any(o => !string.IsNullOrEmpty(o)))
            throw new KilnException(ErrorCode.UnsupportedOperator,
                $"{ctx.OpType} node '{ctx.Name}' (opset {ctx.Version}): the saved_mean/saved_var training outputs are not supported");
        while (ctx.Outputs.Count > 3) ctx.Outputs.RemoveAt(ctx.Outputs.Count - 1);
        bool training = ctx.Outputs.Skip(1).Any(o => !string.IsNullOrEmpty(o));
        if (training) ctx.Attributes["training_mode"] = AttributeValue.Int(1);
        if (spatial) return;
        if (training) throw ctx.Error("training with spatial=0 is not supported");

        // Y = (X - mean) * scale / sqrt(var + epsilon) + B, with parameters shaped like one sample.
        float epsilon = ctx.Take("epsilon")?.AsFloat() ?? 1e-5f;
        ctx.Take("momentum");
        Value Input(int i) => ctx.Input(i) ?? throw ctx.Error($"input {i} is missing");
        var eps = ctx.Constant(TensorData.Scalar(ElementType.Float32, epsilon), "epsilon");
        var std = ctx.Add("Sqrt", [ctx.Add("Add", [Input(4), eps])]);
        var normalized = ctx.Add("Div", [ctx.Add("Sub", [Input(0), Input(3)]), std]);
        var scaled = ctx.Add("Mul", [normalized, Input(1)]);
        var bias = Input(2);
        ctx.OpType = "Add";
        ctx.Inputs.Clear();
        ctx.Inputs.AddRange([scaled, bias]);
    }

    /// <summary>
    /// Opset 18 scaled and shifted per group, opset 21 per channel. The old form is instance
    /// normalization of x viewed as [N, groups, rest]: Reshape(InstanceNormalization(Reshape(x,
    /// [0, groups, -1]), scale, bias), Shape(x)).
    /// </summary>
    private static void GroupNormalizationPerGroupScale(NodeUpgradeContext ctx)
    {
        long groups = ctx.Take("num_groups")?.AsInt() ?? throw ctx.Error("attribute 'num_groups' is missing");
        var x = ctx.Input(0) ?? throw ctx.Error("input 0 is missing");
        var grouped = ctx.Add("Reshape", [x, ctx.Constant(TensorData.Vector(0, groups, -1), "groups")]);
        var normalized = ctx.Add("InstanceNormalization", [grouped, ctx.Input(1), ctx.Input(2)],
            new Dictionary<string, AttributeValue>(ctx.Attributes));
        var shape = ctx.Add("Shape", [x]);
        ctx.OpType = "Reshape";
        ctx.Attributes.Clear();
        ctx.Inputs.Clear();
        ctx.Inputs.AddRange([normalized, shape]);
    }
}
