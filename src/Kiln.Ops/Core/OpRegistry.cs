using System.Reflection;
using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// Operator definitions by (domain, type). <see cref="Default"/> holds every operator Kiln
/// implements; it is built once and immutable afterwards, so it is safe to share across threads.
/// </summary>
public sealed class OpRegistry
{
    private readonly Dictionary<(string Domain, string OpType), OpDefinition> _ops = [];
    private bool _frozen;

    private static readonly Lazy<OpRegistry> s_default = new(CreateDefault);

    /// <summary>Every operator of every [OpFamily] class in Kiln.Ops.</summary>
    public static OpRegistry Default => s_default.Value;

    public static OpRegistry CreateDefault()
    {
        var r = new OpRegistry();
        foreach (var type in typeof(OpRegistry).Assembly.GetTypes())
        {
            if (type.GetCustomAttribute<OpFamilyAttribute>() is null) continue;
            var register = type.GetMethod("Register", BindingFlags.Public | BindingFlags.Static, [typeof(OpRegistry)])
                ?? throw new InvalidOperationException($"[OpFamily] class {type.Name} has no public static Register(OpRegistry)");
            register.Invoke(null, [r]);
        }
        r._frozen = true;
        return r;
    }

    public void Add(OpDefinition def)
    {
        if (_frozen) throw new InvalidOperationException("the registry is frozen");
        if (!_ops.TryAdd((def.Domain, def.OpType), def))
            throw new InvalidOperationException($"operator {def.QualifiedType} is registered twice");
    }

    public bool TryGet(string domain, string opType, out OpDefinition def) =>
        _ops.TryGetValue((NormalizeDomain(domain), opType), out def!);

    public OpDefinition Get(Operation op) =>
        TryGet(op.Domain, op.OpType, out var def) ? def
        : throw new KilnException(ErrorCode.UnsupportedOperator, $"{op.Describe()}: operator {op.QualifiedType} is not supported");

    public IEnumerable<OpDefinition> All => _ops.Values;

    /// <summary>"ai.onnx" is another spelling of the default domain.</summary>
    public static string NormalizeDomain(string domain) => domain == "ai.onnx" ? "" : domain;
}
