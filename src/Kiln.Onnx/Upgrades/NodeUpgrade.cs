using System.Reflection;
using Kiln.Ir;

namespace Kiln.Onnx;

/// <summary>
/// A node on its way into the IR, open to rewriting. Upgrades turn the form an older opset
/// gives an operator into the newest form (attributes that became inputs, changed defaults,
/// renamed operators), adding helper operations before the node when needed. The IR and the
/// operator definitions then know only the newest form.
/// </summary>
public sealed class NodeUpgradeContext
{
    internal NodeUpgradeContext(Graph graph, string domain, string opType, long version, string name,
        List<Value?> inputs, SortedDictionary<string, AttributeValue> attributes, List<string?> outputs)
    {
        Graph = graph;
        Domain = domain;
        OpType = opType;
        Version = version;
        Name = name;
        Inputs = inputs;
        Attributes = attributes;
        Outputs = outputs;
    }

    public Graph Graph { get; }
    public string Domain { get; set; }
    public string OpType { get; set; }

    /// <summary>The opset version the model imports for the node's domain.</summary>
    public long Version { get; }
    public string Name { get; }
    public List<Value?> Inputs { get; }
    public SortedDictionary<string, AttributeValue> Attributes { get; }
    public List<string?> Outputs { get; }

    public Value? Input(int i) => i < Inputs.Count ? Inputs[i] : null;

    /// <summary>Sets input i, padding absent inputs before it.</summary>
    public void SetInput(int i, Value? v)
    {
        while (Inputs.Count <= i) Inputs.Add(null);
        Inputs[i] = v;
    }

    /// <summary>Removes an attribute and returns it (null if absent).</summary>
    public AttributeValue? Take(string name) => Attributes.Remove(name, out var a) ? a : null;

    /// <summary>Adds a Constant operation before the node and returns its value.</summary>
    public Value Constant(TensorData value, string hint = "const") =>
        Graph.Add("Constant", [], new Dictionary<string, AttributeValue> { ["value"] = AttributeValue.Tensor(value) },
            Graph.UniqueName(hint), value.Type);

    /// <summary>Adds a one-result operation before the node and returns its result.</summary>
    public Value Add(string opType, Value?[] inputs, IDictionary<string, AttributeValue>? attributes = null, string? hint = null) =>
        Graph.Add(opType, inputs, attributes, Graph.UniqueName(hint ?? opType.ToLowerInvariant()));

    public KilnException Error(string message) =>
        new(ErrorCode.InvalidModel, $"{OpType} node{(Name.Length > 0 ? $" '{Name}'" : "")} (opset {Version}): {message}");
}

/// <summary>Marks a static class with <c>public static void Register(UpgradeRegistry registry)</c>, found by reflection.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class OnnxUpgradesAttribute : System.Attribute { }

/// <summary>
/// The upgrades by operator: each applies to nodes whose opset version is below the version in
/// which the operator changed. Built once; immutable and thread-safe afterwards.
/// </summary>
public sealed class UpgradeRegistry
{
    private readonly Dictionary<(string, string), List<(int Below, Action<NodeUpgradeContext> Upgrade)>> _upgrades = [];

    private static readonly Lazy<UpgradeRegistry> s_default = new(() =>
    {
        var r = new UpgradeRegistry();
        foreach (var type in typeof(UpgradeRegistry).Assembly.GetTypes())
        {
            if (type.GetCustomAttribute<OnnxUpgradesAttribute>() is null) continue;
            var m = type.GetMethod("Register", BindingFlags.Public | BindingFlags.Static, [typeof(UpgradeRegistry)])
                ?? throw new InvalidOperationException($"[OnnxUpgrades] class {type.Name} has no public static Register(UpgradeRegistry)");
            m.Invoke(null, [r]);
        }
        foreach (var list in r._upgrades.Values) list.Sort((a, b) => a.Below.CompareTo(b.Below));
        return r;
    });

    public static UpgradeRegistry Default => s_default.Value;

    /// <summary>Registers an upgrade for nodes of opset version below <paramref name="changedInVersion"/>.</summary>
    public void Add(string opType, int changedInVersion, Action<NodeUpgradeContext> upgrade, string domain = "")
    {
        var key = (domain, opType);
        if (!_upgrades.TryGetValue(key, out var list)) _upgrades[key] = list = [];
        list.Add((changedInVersion, upgrade));
    }

    internal void Apply(NodeUpgradeContext node)
    {
        if (!_upgrades.TryGetValue((node.Domain, node.OpType), out var list)) return;
        foreach (var (below, upgrade) in list)
            if (node.Version < below) upgrade(node);
    }
}
