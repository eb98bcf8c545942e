using Kiln.Runtime.Format;

namespace Kiln.Runtime.Vm;

/// <summary>The arguments and results of one call from VM code into a native function.</summary>
public ref struct NativeCall
{
    public Invocation Invocation;
    public ReadOnlySpan<long> Values;
    public ReadOnlySpan<object?> Refs;
    public Span<long> ValueResults;
    public Span<object?> RefResults;

    /// <summary>Object argument i as T; a clear error when it is null or of another type.</summary>
    public readonly T Ref<T>(int i, string function) where T : class => Refs[i] as T
        ?? throw new KilnRuntimeException(StatusCode.InvalidArgument, $"{function}: argument {i} must be a {typeof(T).Name}, got {(Refs[i] is null ? "null" : Refs[i]!.GetType().Name)}");
}

/// <summary>A host function callable from modules. Called on the invoking thread.</summary>
public delegate void NativeFunction(ref NativeCall call);

/// <summary>A native function with the arity a module's import must match.</summary>
public sealed record NativeFunctionInfo(string Name, int ValueArgs, int RefArgs, int ValueResults, int RefResults, ImportFlags Flags, NativeFunction Function);

/// <summary>
/// A named set of native functions ("hal", or an application's own), registered with an
/// <see cref="Instance"/>; a module's imports "module.function" resolve against them once, when a
/// context is created. Immutable after construction; thread-safe.
/// </summary>
public sealed class NativeModule
{
    private readonly Dictionary<string, NativeFunctionInfo> _functions;

    public NativeModule(string name, IEnumerable<NativeFunctionInfo> functions)
    {
        Name = name;
        _functions = functions.ToDictionary(f => f.Name, StringComparer.Ordinal);
    }

    public string Name { get; }
    public IEnumerable<NativeFunctionInfo> Functions => _functions.Values;

    public bool TryGet(string function, out NativeFunctionInfo info) => _functions.TryGetValue(function, out info!);
}

/// <summary>
/// Object types a VM may hold in its object registers, registered per <see cref="Instance"/>
/// (never in process-wide state), so two instances may register different types side by side.
/// Thread-safe.
/// </summary>
public sealed class TypeRegistry
{
    private readonly object _lock = new();
    private readonly Dictionary<string, Type> _byName = new(StringComparer.Ordinal);
    private readonly Dictionary<Type, string> _byType = [];

    public void Register(string name, Type type)
    {
        lock (_lock)
        {
            if (_byName.ContainsKey(name)) throw new KilnRuntimeException(StatusCode.InvalidArgument, $"type '{name}' is already registered");
            if (_byType.ContainsKey(type)) throw new KilnRuntimeException(StatusCode.InvalidArgument, $"{type.Name} is already registered as '{_byType[type]}'");
            _byName[name] = type;
            _byType[type] = name;
        }
    }

    public Type? Lookup(string name) { lock (_lock) return _byName.GetValueOrDefault(name); }
    public string? NameOf(Type type) { lock (_lock) return _byType.GetValueOrDefault(type); }
    public bool IsRegistered(object value) { lock (_lock) return _byType.ContainsKey(value.GetType()); }
    public IReadOnlyCollection<string> Names { get { lock (_lock) return _byName.Keys.ToArray(); } }
}
