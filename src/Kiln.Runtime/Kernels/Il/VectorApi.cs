using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.Intrinsics;

namespace Kiln.Runtime.Kernels.Il;

/// <summary>
/// The System.Runtime.Intrinsics API of one vector width (Vector128, Vector256 or Vector512), as the
/// methods the IL renderer emits calls to; the JIT turns those calls into SIMD instructions. The
/// three static classes have the same method names, so one renderer serves every width. Lookups are
/// cached per instance. Not thread-safe (the loader renders one kernel at a time).
/// </summary>
[RequiresDynamicCode("Instantiates generic vector methods at run time.")]
[UnconditionalSuppressMessage("Trimming", "IL2060", Justification = "Instantiates methods of the intrinsic vector classes, whose public methods GetMethods keeps; their type parameters have no member requirements.")]
[UnconditionalSuppressMessage("Trimming", "IL2055", Justification = "Instantiates Vector128/256/512<T> over primitive element types, which have no member requirements.")]
[UnconditionalSuppressMessage("Trimming", "IL2075", Justification = "Reads the static Zero and One properties of Vector128/256/512<T>, which the intrinsics surface always keeps.")]
internal sealed class VectorApi
{
    private readonly Type _vector;
    private readonly Dictionary<string, List<MethodInfo>> _methods = new(StringComparer.Ordinal);
    private readonly Dictionary<string, MethodInfo> _resolved = new(StringComparer.Ordinal);

    /// <param name="bytes">16, 32 or 64.</param>
    public VectorApi(int bytes)
    {
        Type api;
        (api, _vector) = bytes switch
        {
            16 => (typeof(Vector128), typeof(Vector128<>)),
            32 => (typeof(Vector256), typeof(Vector256<>)),
            64 => (typeof(Vector512), typeof(Vector512<>)),
            _ => throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "vector width must be 16, 32 or 64 bytes"),
        };
        Bytes = bytes;
        foreach (var m in api.GetMethods(BindingFlags.Public | BindingFlags.Static))
        {
            if (!_methods.TryGetValue(m.Name, out var list)) _methods[m.Name] = list = [];
            list.Add(m);
        }
    }

    public int Bytes { get; }

    /// <summary>The vector type of this width with the given element type (Vector256&lt;float&gt;, ...).</summary>
    public Type Of(Type element) => _vector.MakeGenericType(element);

    /// <summary>
    /// The method <paramref name="name"/> whose parameters are exactly <paramref name="parameters"/>:
    /// a non-generic overload if there is one, else the generic method instantiated with <paramref name="element"/>.
    /// </summary>
    public MethodInfo Method(string name, Type element, params Type[] parameters)
    {
        string key = $"{name}<{element.Name}>({string.Join(",", (IEnumerable<Type>)parameters)})";
        if (_resolved.TryGetValue(key, out var hit)) return hit;
        var candidates = _methods.GetValueOrDefault(name) ?? throw Missing(key);
        MethodInfo? found = null;
        foreach (var m in candidates)
            if (!m.IsGenericMethodDefinition && HasParameters(m, parameters)) { found = m; break; }
        if (found is null)
        {
            foreach (var m in candidates)
            {
                if (!m.IsGenericMethodDefinition || m.GetGenericArguments().Length != 1 || m.GetParameters().Length != parameters.Length) continue;
                MethodInfo instance;
                try { instance = m.MakeGenericMethod(element); }
                catch (ArgumentException) { continue; } // the element type violates a constraint of this overload
                if (HasParameters(instance, parameters)) { found = instance; break; }
            }
        }
        return _resolved[key] = found ?? throw Missing(key);
    }

    /// <summary>A method taking one vector of <paramref name="element"/> per operand (Add, Min, ConditionalSelect, ...).</summary>
    public MethodInfo Lanewise(string name, Type element, int operands)
    {
        var v = Of(element);
        var parameters = new Type[operands];
        Array.Fill(parameters, v);
        return Method(name, element, parameters);
    }

    /// <summary>The getter of Vector&lt;T&gt;.Zero or .One.</summary>
    public MethodInfo Constant(Type element, string name) =>
        Of(element).GetProperty(name, BindingFlags.Public | BindingFlags.Static)?.GetMethod ?? throw Missing($"{name}<{element.Name}>");

    private static bool HasParameters(MethodInfo m, Type[] types)
    {
        var ps = m.GetParameters();
        if (ps.Length != types.Length) return false;
        for (int i = 0; i < ps.Length; i++)
            if (ps[i].ParameterType != types[i]) return false;
        return true;
    }

    private static InvalidOperationException Missing(string what) => new($"the vector API has no method {what}");
}
