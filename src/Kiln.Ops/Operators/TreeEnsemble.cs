using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// ai.onnx.ml TreeEnsemble (opset 5): X [N, F] -> Y [N, n_targets]. Each tree walks from its
/// root: node i compares feature nodes_featureids[i] with nodes_splits[i] by nodes_modes[i]
/// (&lt;=, &lt;, &gt;=, &gt;, ==, !=, or membership in the i-th set of membership_values, sets
/// separated by NaN), a missing (NaN) feature goes the true way where
/// nodes_missing_value_tracks_true says so, and each branch names a node or, when its *_leafs
/// flag is set, a leaf that adds leaf_weights to target leaf_targetids. The trees' values are
/// aggregated per target (average, sum, min, max) and post-transformed per row.
/// </summary>
[OpFamily]
public static class TreeEnsembleOps
{
    public static void Register(OpRegistry r) => r.Add(new TreeEnsembleDefinition());

    private enum Mode { Leq, Lt, Gte, Gt, Eq, Neq, Member }
    private enum Aggregate { Average, Sum, Min, Max }
    private enum PostTransform { None, Softmax, Logistic, SoftmaxZero, Probit }

    /// <summary>The trees of one node, decoded and checked once per evaluation.</summary>
    private sealed class Forest
    {
        public required long[] Roots, Features, TrueNext, FalseNext, TrueIsLeaf, FalseIsLeaf, MissingGoesTrue, LeafTargets;
        public required Mode[] Modes;
        public required double[] Splits, LeafWeights;
        public required HashSet<double>?[] Sets;
        public required int Targets;
        public required Aggregate Aggregate;
        public required PostTransform Transform;

        public static Forest Read(Operation op)
        {
            KilnException Bad(string m) => new(ErrorCode.InvalidModel, $"{op.Describe()}: {m}");
            long[] Ints(string name) => op.GetInts(name) ?? throw Bad($"needs the '{name}' attribute");
            double[] Numbers(string name) => (op.GetTensor(name) ?? throw Bad($"needs the '{name}' attribute")) is var t
                ? Enumerable.Range(0, (int)t.ElementCount).Select(i => t.GetDouble(i)).ToArray() : [];

            TEnum Choice<TEnum>(string name, long fallback) where TEnum : struct, Enum
            {
                long v = op.GetInt(name, fallback);
                return v >= 0 && v < Enum.GetValues<TEnum>().Length ? (TEnum)(object)(int)v : throw Bad($"unknown {name} {v}");
            }

            var modes = Numbers("nodes_modes").Select(m => m is >= 0 and <= 6 ? (Mode)(int)m : throw Bad($"unknown node mode {m}")).ToArray();
            int nodes = modes.Length;
            long[] PerNode(string name, long fallback = 0)
            {
                var values = op.GetInts(name) ?? Enumerable.Repeat(fallback, nodes).ToArray();
                return values.Length == nodes ? values : throw Bad($"'{name}' has {values.Length} entries, there are {nodes} nodes");
            }
            var splits = Numbers("nodes_splits");
            if (splits.Length != nodes) throw Bad($"nodes_splits has {splits.Length} entries, there are {nodes} nodes");

            // The k-th member node tests the k-th NaN-terminated set of membership_values.
            var sets = new HashSet<double>?[nodes];
            var members = op.GetTensor("membership_values") is { } mv
                ? Enumerable.Range(0, (int)mv.ElementCount).Select(i => mv.GetDouble(i)).ToArray() : [];
            int cursor = 0;
            for (int i = 0; i < nodes; i++)
            {
                if (modes[i] != Mode.Member) continue;
                if (cursor >= members.Length) throw Bad("membership_values has fewer sets than there are member nodes");
                var set = new HashSet<double>();
                for (; cursor < members.Length && !double.IsNaN(members[cursor]); cursor++) set.Add(members[cursor]);
                cursor++;
                sets[i] = set;
            }

            var forest = new Forest
            {
                Roots = Ints("tree_roots"),
                Features = PerNode("nodes_featureids"),
                TrueNext = PerNode("nodes_truenodeids"),
                FalseNext = PerNode("nodes_falsenodeids"),
                TrueIsLeaf = PerNode("nodes_trueleafs"),
                FalseIsLeaf = PerNode("nodes_falseleafs"),
                MissingGoesTrue = PerNode("nodes_missing_value_tracks_true"),
                Modes = modes,
                Splits = splits,
                Sets = sets,
                LeafTargets = Ints("leaf_targetids"),
                LeafWeights = Numbers("leaf_weights"),
                Targets = (int)Math.Clamp(op.GetInt("n_targets"), 0, int.MaxValue), // Check rejects 0
                Aggregate = Choice<Aggregate>("aggregate_function", 1),
                Transform = Choice<PostTransform>("post_transform", 0),
            };
            forest.Check(Bad);
            return forest;
        }

        private void Check(Func<string, KilnException> bad)
        {
            int nodes = Modes.Length, leaves = LeafWeights.Length;
            if (Targets < 1) throw bad($"n_targets {Targets} must be positive");
            if (LeafTargets.Length != leaves) throw bad($"leaf_targetids has {LeafTargets.Length} entries, leaf_weights {leaves}");
            if (LeafTargets.Any(t => t < 0 || t >= Targets)) throw bad($"a leaf target is outside [0, {Targets})");
            if (Roots.Any(r => r < 0 || r >= nodes)) throw bad($"a tree root is outside [0, {nodes})");
            if (Features.Any(f => f < 0)) throw bad("a feature index is negative");
            for (int i = 0; i < nodes; i++)
                foreach (var (next, isLeaf) in new[] { (TrueNext[i], TrueIsLeaf[i]), (FalseNext[i], FalseIsLeaf[i]) })
                    if (next < 0 || next >= (isLeaf != 0 ? leaves : nodes))
                        throw bad($"node {i} branches to {(isLeaf != 0 ? "leaf" : "node")} {next}, which does not exist");
        }

        /// <summary>The leaf a tree reaches for one row of features.</summary>
        public long Leaf(long root, ReadOnlySpan<double> row, Func<string, KilnException> error)
        {
            long node = root;
            for (int steps = 0; steps <= Modes.Length; steps++)
            {
                if (Features[node] >= row.Length) throw error($"node {node} reads feature {Features[node]}, the input has {row.Length}");
                double x = row[(int)Features[node]], split = Splits[node];
                bool goTrue = double.IsNaN(x) && MissingGoesTrue[node] != 0 || Modes[node] switch
                {
                    Mode.Leq => x <= split,
                    Mode.Lt => x < split,
                    Mode.Gte => x >= split,
                    Mode.Gt => x > split,
                    Mode.Eq => x == split,
                    Mode.Neq => x != split,
                    _ => Sets[node]!.Contains(x),
                };
                var (next, isLeaf) = goTrue ? (TrueNext[node], TrueIsLeaf[node]) : (FalseNext[node], FalseIsLeaf[node]);
                if (isLeaf != 0) return next;
                node = next;
            }
            throw error($"the tree rooted at node {root} has a cycle");
        }
    }

    private sealed class TreeEnsembleDefinition : OpDefinition
    {
        public override string Domain => MlDomain.Domain;
        public override string OpType => "TreeEnsemble";

        private static bool IsFeatureType(ElementType t) => t is ElementType.Float32 or ElementType.Float64 or ElementType.Float16;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, IsFeatureType, "float, double or float16");
            var forest = Forest.Read(ctx.Op);
            var shape = ctx.InputShape(0);
            if (shape.IsRanked && shape.Rank != 2) throw ctx.Error($"the input must be [N, F], has shape {shape}");
            ctx.SetOutput(0, ctx.InputElementType(0), Shape.Of(shape.IsRanked ? shape[0] : Dim.Unknown(), forest.Targets));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            if (!IsFeatureType(x.ElementType) || x.Rank != 2) throw ctx.Error($"the input must be a float tensor [N, F], got {x.Type}");
            var forest = Forest.Read(ctx.Op);
            long rows = x.Shape[0], features = x.Shape[1];
            int targets = forest.Targets;
            TensorData.CheckedCount([rows, targets]);
            var features64 = Enumerable.Range(0, (int)x.ElementCount).Select(i => x.GetDouble(i)).ToArray();
            var y = new double[rows * targets];
            var hits = new int[targets];
            for (long r = 0; r < rows; r++)
            {
                var row = features64.AsSpan((int)(r * features), (int)features);
                var scores = y.AsSpan((int)(r * targets), targets);
                Array.Clear(hits);
                foreach (long root in forest.Roots)
                {
                    long leaf = forest.Leaf(root, row, ctx.Error);
                    int t = (int)forest.LeafTargets[leaf];
                    double w = forest.LeafWeights[leaf];
                    scores[t] = hits[t]++ == 0 ? w : forest.Aggregate switch
                    {
                        Aggregate.Min => Math.Min(scores[t], w),
                        Aggregate.Max => Math.Max(scores[t], w),
                        _ => scores[t] + w,
                    };
                }
                if (forest.Aggregate == Aggregate.Average)
                    for (int t = 0; t < targets; t++) scores[t] /= forest.Roots.Length;
                Transform(forest.Transform, scores);
            }
            ctx.SetOutput(0, Conversions.Convert(new TensorData(ElementType.Float64, [rows, targets], y), x.ElementType));
        }

        private static void Transform(PostTransform transform, Span<double> scores)
        {
            switch (transform)
            {
                case PostTransform.Softmax:
                    Softmax(scores, skipZeros: false);
                    break;
                case PostTransform.SoftmaxZero:
                    Softmax(scores, skipZeros: true);
                    break;
                case PostTransform.Logistic:
                    foreach (ref double s in scores) s = 1 / (1 + Math.Exp(-s));
                    break;
                case PostTransform.Probit:
                    foreach (ref double s in scores) s = Probit(s);
                    break;
            }
        }

        /// <summary>Softmax over the scores; with skipZeros, zero scores stay zero and do not take part.</summary>
        private static void Softmax(Span<double> scores, bool skipZeros)
        {
            double max = double.NegativeInfinity, sum = 0;
            foreach (double s in scores) if (!(skipZeros && s == 0)) max = Math.Max(max, s);
            foreach (ref double s in scores)
            {
                if (skipZeros && s == 0) continue;
                s = Math.Exp(s - max);
                sum += s;
            }
            foreach (ref double s in scores) if (!(skipZeros && s == 0)) s /= sum;
        }

        /// <summary>
        /// The standard normal quantile of p (the inverse CDF), by Acklam's rational approximation
        /// (relative error below 1.2e-9, well inside the float tolerance).
        /// </summary>
        private static double Probit(double p)
        {
            if (double.IsNaN(p) || p <= 0 || p >= 1) return p == 0 ? double.NegativeInfinity : p == 1 ? double.PositiveInfinity : double.NaN;
            double[] a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
            double[] b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
            double[] c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
            double[] d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
            const double Low = 0.02425;
            if (p < Low || p > 1 - Low)
            {
                // Tails: q = sqrt(-2 ln(min(p, 1 - p))), sign by side.
                double q = Math.Sqrt(-2 * Math.Log(Math.Min(p, 1 - p)));
                double tail = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
                return p < Low ? tail : -tail;
            }
            double u = p - 0.5, r = u * u;
            return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * u / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
        }
    }
}
