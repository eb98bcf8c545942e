using Kiln.Ir;
using Kiln.Runtime.Kernels.Reduction;

namespace Kiln.Compiler.Lowering.Reduction;

/// <summary>
/// ai.onnx.ml TreeEnsemble: the forest's attributes become two constant tables (int64 indices and
/// float64 values, laid out as <see cref="TreeEnsembleKernel"/> reads them) and one dispatch runs
/// every row through every tree. Inference already checked the attributes; the kernel checks the
/// tables again before it runs (a module's constants are not trusted).
/// </summary>
[Lowerings]
public static class TreeEnsembleLowering
{
    public static void Register(LoweringRegistry r) => r.Add("TreeEnsemble", Lower, "ai.onnx.ml");

    private static double[] Numbers(Operation op, string name) =>
        op.GetTensor(name) is { } t ? Enumerable.Range(0, (int)t.ElementCount).Select(i => t.GetDouble(i)).ToArray() : [];

    private static void Lower(LoweringContext ctx)
    {
        var op = ctx.Op;
        var x = ctx.Input(0);
        if (x.Rank != 2) throw ctx.Unsupported($"an input of rank {x.Rank} (it must be [N, F])");
        var modes = Numbers(op, "nodes_modes");
        int nodes = modes.Length;
        long[] PerNode(string name) => op.GetInts(name) ?? new long[nodes];
        long[] features = PerNode("nodes_featureids"), trueNext = PerNode("nodes_truenodeids"), falseNext = PerNode("nodes_falsenodeids"),
            trueLeaf = PerNode("nodes_trueleafs"), falseLeaf = PerNode("nodes_falseleafs"), missingTrue = PerNode("nodes_missing_value_tracks_true");
        long[] roots = op.GetInts("tree_roots") ?? [], leafTargets = op.GetInts("leaf_targetids") ?? [];
        double[] splits = Numbers(op, "nodes_splits"), weights = Numbers(op, "leaf_weights"), members = Numbers(op, "membership_values");

        // Member node k tests the k-th NaN-terminated run of membership_values: its start and length.
        var ints = new List<long>(roots);
        int cursor = 0;
        for (int i = 0; i < nodes; i++)
        {
            long setStart = 0, setLength = 0;
            if (modes[i] == 6)
            {
                setStart = cursor;
                while (cursor < members.Length && !double.IsNaN(members[cursor])) cursor++;
                setLength = cursor - setStart;
                cursor++;
            }
            ints.AddRange([features[i], (long)modes[i], trueNext[i], trueLeaf[i], falseNext[i], falseLeaf[i], missingTrue[i], setStart, setLength]);
        }
        ints.AddRange(leafTargets);
        var floats = splits.Concat(weights).Concat(members).ToArray();

        var sizes = new TreeEnsembleKernel.Sizes(nodes, weights.Length, roots.Length, members.Length, op.GetInt("n_targets"));
        var intTable = ctx.NewConstant(TensorData.FromInt64s([ints.Count], [.. ints]));
        var floatTable = ctx.NewConstant(TensorData.Create(ElementType.Float64, [floats.Length], floats));
        var descriptor = TreeEnsembleKernel.Encode(x.DType, (int)op.GetInt("aggregate_function", 1), (int)op.GetInt("post_transform", 0), sizes);
        ctx.Dispatch(new KernelSpec(TreeEnsembleKernel.KernelName, descriptor, 4, 2), [x, intTable, floatTable], [ctx.NewOutput(0)], [x.Shape[0], x.Shape[1]]);
    }
}
