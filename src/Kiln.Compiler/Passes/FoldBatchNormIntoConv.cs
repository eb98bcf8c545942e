using Kiln.Ir;

namespace Kiln.Compiler.Passes;

/// <summary>
/// Folds an inference-mode BatchNormalization into the Conv that feeds it, when the Conv's
/// weights and bias and all the normalization's parameters are constants and nothing else reads
/// the Conv's result: with a = scale / sqrt(var + ε) per output channel, the Conv gets weights
/// W·a and bias (b − mean)·a + B (computed in double, stored in the weights' type), and the
/// normalization disappears. The new Conv keeps every attribute of the old one; the result keeps
/// the normalization's name. Runs after constant folding; leaves dead constants to DCE.
/// </summary>
public static class FoldBatchNormIntoConv
{
    public static bool Run(Graph graph)
    {
        bool changed = false;
        var uses = graph.CountUses();
        foreach (var bn in graph.Operations.ToList())
        {
            if (bn.OpType != "BatchNormalization" || bn.Domain.Length != 0 || bn.GetInt("training_mode", 0) != 0) continue;
            if (bn.Outputs.Skip(1).Any(o => o is not null)) continue;
            if (bn.Input(0).Producer is not { OpType: "Conv", Domain: "" } conv || uses.GetValueOrDefault(conv.Output(0)) != 1) continue;
            if (graph.Outputs.Contains(conv.Output(0))) continue;
            if (ConstantOf(conv.Input(1)) is not { ElementType: ElementType.Float32 or ElementType.Float64 } weights || weights.Rank < 1) continue;
            var convBias = conv.OptionalInput(2) is { } b ? ConstantOf(b) : null;
            if (conv.OptionalInput(2) is not null && convBias is null) continue;
            var parameters = Enumerable.Range(1, 4).Select(i => ConstantOf(bn.Input(i))).ToArray();
            long channels = weights.Shape[0];
            if (parameters.Any(p => p is null || p.ElementCount != channels) || (convBias is not null && convBias.ElementCount != channels)) continue;

            Fold(graph, conv, bn, weights, convBias, parameters!, bn.GetFloat("epsilon", 1e-5f));
            changed = true;
            uses = graph.CountUses();
        }
        if (changed) DeadCodeElimination.Run(graph);
        return changed;
    }

    private static TensorData? ConstantOf(Value v) =>
        v.Producer is { OpType: "Constant", Domain: "" } c ? c.GetTensor("value") : null;

    private static void Fold(Graph graph, Operation conv, Operation bn, TensorData weights, TensorData? convBias, TensorData[] p, double epsilon)
    {
        var (scale, shift, mean, variance) = (p[0], p[1], p[2], p[3]);
        long channels = weights.Shape[0], perChannel = weights.ElementCount / Math.Max(1, channels);
        var newWeights = new double[weights.ElementCount];
        var newBias = new double[channels];
        for (long m = 0; m < channels; m++)
        {
            double a = scale.GetDouble(m) / Math.Sqrt(variance.GetDouble(m) + epsilon);
            for (long i = 0; i < perChannel; i++) newWeights[m * perChannel + i] = weights.GetDouble(m * perChannel + i) * a;
            newBias[m] = ((convBias?.GetDouble(m) ?? 0) - mean.GetDouble(m)) * a + shift.GetDouble(m);
        }

        int at = graph.IndexOf(conv);
        Value AddConstant(double[] values, long[] shape, string hint)
        {
            var data = weights.ElementType == ElementType.Float64 ? new TensorData(ElementType.Float64, shape, values)
                : new TensorData(ElementType.Float32, shape, Array.ConvertAll(values, v => (float)v));
            return graph.AddOperation("Constant", [], [graph.UniqueName(hint)],
                new Dictionary<string, AttributeValue> { ["value"] = AttributeValue.Tensor(data) }, outputTypes: [data.Type], insertAt: at++).Output(0);
        }
        var w = AddConstant(newWeights, weights.Shape, conv.Input(1).Name + "_bn");
        var bias = AddConstant(newBias, [channels], conv.Name.Length > 0 ? conv.Name + "_bn_bias" : "bn_bias");

        // The folded Conv takes over the normalization's result name (it may be a graph output).
        var result = bn.Output(0);
        string name = result.Name;
        graph.Rename(result, name + "_unfolded");
        var folded = graph.AddOperation("Conv", [conv.Input(0), w, bias], [name], conv.Attributes, name: conv.Name,
            outputTypes: [result.Type], insertAt: graph.IndexOf(bn));
        graph.ReplaceAllUses(result, folded.Output(0));
        graph.Remove(bn);
    }
}
