using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Reduction;

/// <summary>
/// The portable "treeensemble" kernel: ai.onnx.ml TreeEnsemble, x [rows, features] to y [rows,
/// targets]. Each tree walks from its root: a node compares one feature with its split (&lt;=, &lt;,
/// &gt;=, &gt;, ==, !=, or membership in its set), a NaN feature goes the true way where the node
/// says so, and each branch names a node or a leaf, which gives a weight to a target. Trees'
/// weights are aggregated per target (average, sum, min, max) and post-transformed per row (none,
/// softmax, logistic, softmax of the nonzero scores, probit); computed in double, rounded once.
/// The forest comes as two tables (constants of the module), checked in full before a dispatch
/// runs. Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 element dtype (float) · u8 aggregate (0..3) · u8 post_transform (0..4)
/// · i64 nodes · i64 leaves · i64 roots · i64 set values · i64 targets
/// </code>
/// Bindings: x; the int64 table: roots, then per node <see cref="NodeFields"/> fields (feature,
/// mode, true next, true is leaf, false next, false is leaf, NaN goes true, set start, set length),
/// then each leaf's target; the float64 table: splits, leaf weights, set values; y. Push constants:
/// rows, features. One workgroup per block of rows. Immutable after load; thread-safe.
/// </summary>
public sealed unsafe class TreeEnsembleKernel : Kernel
{
    public const string KernelName = "treeensemble";
    public const byte Version = 1;
    public const int NodeFields = 9;
    private const long RowsPerWorkgroup = 64;
    private const long MaxTableLength = int.MaxValue / 16;

    /// <summary>The forest's sizes, from the descriptor.</summary>
    public readonly record struct Sizes(long Nodes, long Leaves, long Roots, long SetValues, long Targets)
    {
        public long IntTableLength => Roots + Nodes * NodeFields + Leaves;
        public long FloatTableLength => Nodes + Leaves + SetValues;
    }

    private readonly DType _dtype;
    private readonly int _aggregate, _transform;
    private readonly Sizes _sizes;

    private TreeEnsembleKernel(DType dtype, int aggregate, int transform, Sizes sizes) => (_dtype, _aggregate, _transform, _sizes) = (dtype, aggregate, transform, sizes);

    public static byte[] Encode(DType dtype, int aggregate, int transform, Sizes s) =>
        new DescriptorWriter().U8(Version).U8((byte)dtype).U8(aggregate).U8(transform)
            .I64(s.Nodes).I64(s.Leaves).I64(s.Roots).I64(s.SetValues).I64(s.Targets).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Float, "element");
        int aggregate = r.U8(), transform = r.U8();
        if (aggregate > 3) throw r.Invalid($"unknown aggregate function {aggregate}");
        if (transform > 4) throw r.Invalid($"unknown post transform {transform}");
        var sizes = new Sizes(r.I64(), r.I64(), r.I64(), r.I64(), r.I64());
        r.ExpectEnd();
        foreach (long n in new[] { sizes.Nodes, sizes.Leaves, sizes.Roots, sizes.SetValues, sizes.Targets })
            if (n < 0 || n > MaxTableLength) throw r.Invalid($"a forest size {n} is out of range");
        if (sizes.Nodes < 1 || sizes.Leaves < 1 || sizes.Roots < 1 || sizes.Targets < 1) throw r.Invalid("the forest needs nodes, leaves, roots and targets");
        DescriptorFields.CheckCounts(KernelName, bindingCount, 4, constantCount, 2);
        return new TreeEnsembleKernel(dtype, aggregate, transform, sizes);
    }

    public override string Name => KernelName;

    public override void Validate(in DispatchState d)
    {
        long rows = d.Constant(0), features = d.Constant(1);
        DispatchChecks.Fits(d, 0, DispatchChecks.Product([rows, features], KernelName, "x"), _dtype.Size(), KernelName, "x");
        if (d.Binding(1).Length != _sizes.IntTableLength * sizeof(long) || d.Binding(2).Length != _sizes.FloatTableLength * sizeof(double))
            throw DispatchChecks.OutOfRange(KernelName, "the forest tables do not have the descriptor's sizes");
        DispatchChecks.Fits(d, 3, DispatchChecks.Product([rows, _sizes.Targets], KernelName, "y"), _dtype.Size(), KernelName, "y");
        if (features > int.MaxValue / 8) throw DispatchChecks.OutOfRange(KernelName, $"{features} features are too many");
        CheckForest((long*)d.Binding(1).Data, features);
    }

    /// <summary>Every index of the int table names something that exists: roots and next nodes, leaves, targets, features, sets.</summary>
    private void CheckForest(long* table, long features)
    {
        var s = _sizes;
        for (long i = 0; i < s.Roots; i++)
            if (table[i] < 0 || table[i] >= s.Nodes) throw DispatchChecks.OutOfRange(KernelName, $"root {table[i]} is not a node");
        long* nodes = table + s.Roots;
        for (long i = 0; i < s.Nodes; i++)
        {
            long* n = nodes + i * NodeFields;
            if (n[0] < 0 || n[0] >= features) throw DispatchChecks.OutOfRange(KernelName, $"node {i} reads feature {n[0]}, the input has {features}");
            if (n[1] < 0 || n[1] > 6) throw DispatchChecks.OutOfRange(KernelName, $"node {i} has unknown mode {n[1]}");
            for (int branch = 2; branch <= 4; branch += 2)
            {
                bool leaf = n[branch + 1] != 0;
                if (n[branch] < 0 || n[branch] >= (leaf ? s.Leaves : s.Nodes))
                    throw DispatchChecks.OutOfRange(KernelName, $"node {i} branches to {(leaf ? "leaf" : "node")} {n[branch]}, which does not exist");
            }
            if (n[7] < 0 || n[8] < 0 || n[7] > s.SetValues - n[8]) throw DispatchChecks.OutOfRange(KernelName, $"node {i} has a set outside the set values");
        }
        long* targets = nodes + s.Nodes * NodeFields;
        for (long i = 0; i < s.Leaves; i++)
            if (targets[i] < 0 || targets[i] >= s.Targets) throw DispatchChecks.OutOfRange(KernelName, $"leaf {i} has target {targets[i]}, there are {s.Targets}");
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) =>
        ((int)Math.Min(int.MaxValue, (d.Constant(0) + RowsPerWorkgroup - 1) / RowsPerWorkgroup), 1, 1);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        long rows = d.Constant(0);
        int features = (int)d.Constant(1), targets = (int)_sizes.Targets, size = _dtype.Size();
        long* roots = (long*)d.Binding(1).Data, nodes = roots + _sizes.Roots, leafTargets = nodes + _sizes.Nodes * NodeFields;
        double* splits = (double*)d.Binding(2).Data, weights = splits + _sizes.Nodes, sets = weights + _sizes.Leaves;
        byte* x = d.Binding(0).Data, y = d.Binding(3).Data;
        var row = new double[features];
        var scores = new double[targets];
        var hits = new int[targets];
        for (long r = wg.X * RowsPerWorkgroup, last = Math.Min(rows, r + RowsPerWorkgroup); r < last; r++)
        {
            ElementRows.Load(_dtype, x + r * features * size, features, row).CopyTo(row);
            Array.Clear(scores);
            Array.Clear(hits);
            for (long t = 0; t < _sizes.Roots; t++)
            {
                long leaf = Leaf(roots[t], row, nodes, splits, sets);
                int target = (int)leafTargets[leaf];
                double w = weights[leaf];
                scores[target] = hits[target]++ == 0 ? w : _aggregate switch
                {
                    2 => Math.Min(scores[target], w),
                    3 => Math.Max(scores[target], w),
                    _ => scores[target] + w,
                };
            }
            if (_aggregate == 0)
                for (int t = 0; t < targets; t++) scores[t] /= _sizes.Roots;
            PostTransform(scores);
            ElementRows.Store<double>(scores, _dtype, y + r * targets * size);
        }
    }

    /// <summary>The leaf a tree reaches; a walk longer than the node count is a cycle.</summary>
    private long Leaf(long node, double[] row, long* nodes, double* splits, double* sets)
    {
        for (long steps = 0; steps <= _sizes.Nodes; steps++)
        {
            long* n = nodes + node * NodeFields;
            double value = row[n[0]], split = splits[node];
            bool goTrue = double.IsNaN(value) && n[6] != 0 || n[1] switch
            {
                0 => value <= split,
                1 => value < split,
                2 => value >= split,
                3 => value > split,
                4 => value == split,
                5 => value != split,
                _ => Contains(sets + n[7], n[8], value),
            };
            long next = goTrue ? n[2] : n[4];
            if ((goTrue ? n[3] : n[5]) != 0) return next;
            node = next;
        }
        throw DispatchChecks.OutOfRange(KernelName, "a tree has a cycle");
    }

    private static bool Contains(double* set, long length, double value)
    {
        for (long i = 0; i < length; i++) if (set[i] == value) return true;
        return false;
    }

    private void PostTransform(double[] scores)
    {
        switch (_transform)
        {
            case 1: Softmax(scores, skipZeros: false); break;
            case 2: for (int i = 0; i < scores.Length; i++) scores[i] = 1 / (1 + Math.Exp(-scores[i])); break;
            case 3: Softmax(scores, skipZeros: true); break;
            case 4: for (int i = 0; i < scores.Length; i++) scores[i] = Probit(scores[i]); break;
        }
    }

    /// <summary>Softmax of the scores; with skipZeros, zero scores stay zero and take no part.</summary>
    private static void Softmax(double[] scores, bool skipZeros)
    {
        double max = double.NegativeInfinity, sum = 0;
        foreach (double s in scores) if (!(skipZeros && s == 0)) max = Math.Max(max, s);
        for (int i = 0; i < scores.Length; i++)
        {
            if (skipZeros && scores[i] == 0) continue;
            scores[i] = Math.Exp(scores[i] - max);
            sum += scores[i];
        }
        for (int i = 0; i < scores.Length; i++) if (!(skipZeros && scores[i] == 0)) scores[i] /= sum;
    }

    /// <summary>The standard normal quantile of p, by Acklam's rational approximation (relative error below 1.2e-9), as the reference evaluator computes it.</summary>
    private static double Probit(double p)
    {
        if (double.IsNaN(p) || p <= 0 || p >= 1) return p == 0 ? double.NegativeInfinity : p == 1 ? double.PositiveInfinity : double.NaN;
        const double Low = 0.02425;
        if (p < Low || p > 1 - Low)
        {
            double q = Math.Sqrt(-2 * Math.Log(Math.Min(p, 1 - p)));
            double tail = (((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q - 2.400758277161838e+00) * q - 2.549732539343734e+00) * q + 4.374664141464968e+00) * q + 2.938163982698783e+00)
                / ((((7.784695709041462e-03 * q + 3.224671290700398e-01) * q + 2.445134137142996e+00) * q + 3.754408661907416e+00) * q + 1);
            return p < Low ? tail : -tail;
        }
        double u = p - 0.5, r = u * u;
        return (((((-3.969683028665376e+01 * r + 2.209460984245205e+02) * r - 2.759285104469687e+02) * r + 1.383577518672690e+02) * r - 3.066479806614716e+01) * r + 2.506628277459239e+00) * u
            / (((((-5.447609879822406e+01 * r + 1.615858368580409e+02) * r - 1.556989798598866e+02) * r + 6.680131188771972e+01) * r - 1.328068155288572e+01) * r + 1);
    }
}
