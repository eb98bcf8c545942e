using Kiln.Compiler.Lowering.Elementwise;
using Kiln.Ir;
using Kiln.Ops.Operators;

namespace Kiln.Compiler.Passes;

/// <summary>
/// Groups chains of elementwise operations over one iteration shape into
/// <c>kiln.ElementwiseRegion</c> operations, which lower to a single elementwise program: the
/// intermediate values never leave registers, and a chain of N operations costs one pass over
/// memory instead of N. An operation joins the group of one of its operands when it has the same
/// result shape and the group's values have not yet been used outside it (so the region can take
/// the place of its last member without breaking the order). Values used outside become the
/// region's results; everything else stays inside.
/// </summary>
public static class FuseElementwise
{
    /// <summary>Largest group, so programs stay well inside the kernel's register limit.</summary>
    public const int MaxGroupSize = 48;

    private sealed class Group(Dim[] shape)
    {
        public Dim[] Shape { get; } = shape;
        public List<Operation> Members { get; } = [];
        public HashSet<Value> Values { get; } = new(ReferenceEqualityComparer.Instance);
        public bool Closed { get; set; }
    }

    public static bool Run(Graph graph)
    {
        var groupOf = new Dictionary<Value, Group>(ReferenceEqualityComparer.Instance);
        var groups = new List<Group>();
        foreach (var op in graph.Operations)
        {
            var shape = IsFusible(op) ? ShapeOf(op.Output(0)) : null;
            Group? target = null;
            if (shape is not null)
                foreach (var input in op.Inputs)
                    if (input is not null && groupOf.TryGetValue(input, out var g) && !g.Closed
                        && g.Members.Count < MaxGroupSize && g.Shape.AsSpan().SequenceEqual(shape))
                    { target = g; break; }
            if (shape is not null && target is null)
            {
                target = new Group(shape);
                groups.Add(target);
            }
            // Any other group whose value this operation reads is now used outside: it may not grow past here.
            foreach (var input in op.Inputs)
                if (input is not null && groupOf.TryGetValue(input, out var g) && g != target) g.Closed = true;
            foreach (var g in op.NestedGraphs.SelectMany(n => n.AllOperations()).SelectMany(o => o.Inputs))
                if (g is not null && groupOf.TryGetValue(g, out var grp)) grp.Closed = true;
            if (target is null) continue;
            target.Members.Add(op);
            foreach (var r in op.Outputs)
                if (r is not null) { target.Values.Add(r); groupOf[r] = target; }
        }

        var regions = groups.Where(g => g.Members.Count >= 2).ToList();
        if (regions.Count == 0) return false;
        var uses = graph.CountUses();
        var graphOutputs = new HashSet<Value>(graph.Outputs, ReferenceEqualityComparer.Instance);
        var replacement = new Dictionary<Operation, Operation>(ReferenceEqualityComparer.Instance);
        var removed = new HashSet<Operation>(ReferenceEqualityComparer.Instance);
        var exports = new List<(Value Old, Value New)>();
        foreach (var g in regions)
        {
            var region = BuildRegion(graph, g, uses, graphOutputs, exports);
            replacement[g.Members[^1]] = region;
            foreach (var m in g.Members) removed.Add(m);
        }
        var order = new List<Operation>();
        foreach (var op in graph.Operations)
        {
            if (replacement.TryGetValue(op, out var region)) order.Add(region);
            else if (!removed.Contains(op)) order.Add(op);
        }
        graph.SetOperations(order);
        // Only now, with every region in the graph: a region built earlier may read a value another one exports.
        foreach (var (old, exported) in exports) graph.ReplaceAllUses(old, exported);
        return true;
    }

    private static bool IsFusible(Operation op) =>
        op.Domain.Length == 0 && ElementwiseEmitters.All.ContainsKey(op.OpType) && op.Outputs.Count == 1 && op.HasOutput(0)
        && op.Inputs.All(i => i is null || i.Type is TensorType { ElementType: not (ElementType.String or ElementType.Complex64 or ElementType.Complex128) })
        && op.Output(0).Type is TensorType { ElementType: not ElementType.String };

    private static Dim[]? ShapeOf(Value v)
    {
        if (v.Type is not TensorType { Shape.IsRanked: true } t) return null;
        foreach (var d in t.Shape) if (d.IsUnknown) return null;
        return t.Shape.Dims.ToArray();
    }

    /// <summary>Moves a group's operations into a region's body; the region keeps the names of the values it exports.</summary>
    private static Operation BuildRegion(Graph graph, Group g, Dictionary<Value, int> uses, HashSet<Value> graphOutputs, List<(Value Old, Value New)> exports)
    {
        // Uses of each group value from inside the group.
        var inner = new Dictionary<Value, int>(ReferenceEqualityComparer.Instance);
        foreach (var m in g.Members)
            foreach (var i in m.Inputs)
                if (i is not null && g.Values.Contains(i)) inner[i] = inner.GetValueOrDefault(i) + 1;
        var exported = g.Members.SelectMany(m => m.Outputs).Where(v => v is not null
            && (graphOutputs.Contains(v) || uses.GetValueOrDefault(v) > inner.GetValueOrDefault(v))).Select(v => v!).ToList();

        var body = graph.CreateNested(graph.UniqueName("fused"));
        var map = new Dictionary<Value, Value>(ReferenceEqualityComparer.Instance);
        var external = new List<Value>();
        foreach (var m in g.Members)
            for (int k = 0; k < m.Inputs.Count; k++)
                if (m.Inputs[k] is { } i && !g.Values.Contains(i) && !map.ContainsKey(i) && !ElementwiseEmitters.IsTypeOnly(m.OpType, k))
                {
                    external.Add(i);
                    map[i] = body.AddInput(graph.UniqueName(i.Name + "_in"), i.Type);
                }
        foreach (var m in g.Members)
        {
            // CastLike becomes Cast inside a region: its second operand only named a type.
            bool castLike = m.OpType == "CastLike";
            string opType = castLike ? "Cast" : m.OpType;
            IEnumerable<Value?> inputs = castLike ? m.Inputs.Take(1) : m.Inputs;
            IDictionary<string, AttributeValue> attributes = castLike
                ? new Dictionary<string, AttributeValue> { ["to"] = AttributeValue.Int((long)m.Output(0).TensorType.ElementType) }
                : m.Attributes;
            var copy = body.AddOperation(opType, inputs.Select(i => i is null ? null : map[i]),
                m.Outputs.Select(o => o is null ? null : graph.UniqueName(o.Name)),
                attributes, m.Domain, m.Name, m.Outputs.Select(o => o?.Type ?? new TensorType(ElementType.Float32, Shape.Unranked)));
            for (int k = 0; k < m.Outputs.Count; k++)
                if (m.Outputs[k] is { } o) map[o] = copy.Output(k);
        }
        foreach (var v in exported) body.AddOutput(map[v]);

        // The region's results take over the exported values' names.
        var names = exported.Select(v => v.Name).ToList();
        foreach (var v in exported) graph.Rename(v, v.Name + "_unfused");
        var region = graph.AddOperation(KilnRegions.ElementwiseRegion, external, names,
            new Dictionary<string, AttributeValue> { ["body"] = AttributeValue.Graph(body) }, KilnRegions.Domain,
            outputTypes: exported.Select(v => v.Type));
        graph.Remove(region); // placed by the caller, which also redirects the uses of the exported values
        for (int k = 0; k < exported.Count; k++) exports.Add((exported[k], region.Output(k)));
        return region;
    }
}
