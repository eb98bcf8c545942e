using System.Runtime.CompilerServices;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Kernels;
using Kiln.Runtime.Kernels.Il;

namespace Kiln.Runtime.Vm;

/// <summary>
/// The root of the runtime's object graph: the registered object types, executable loaders and
/// native modules. Everything the runtime would otherwise keep in process-wide state lives here,
/// so independent instances coexist in one process. Create one per application (or per isolated
/// component); create contexts from it. Thread-safe; registration is expected before contexts
/// are created.
/// </summary>
public sealed class Instance
{
    private readonly List<ExecutableLoader> _loaders = [];
    private readonly Dictionary<string, NativeModule> _modules = new(StringComparer.Ordinal);
    private readonly object _lock = new();

    /// <summary>
    /// An instance with the built-in types ("hal.buffer", "hal.buffer_view", "seq.tensor_sequence",
    /// "str.string_tensor"), the "hal", "seq" and "str" modules, the
    /// portable kernel loader, and, where code can be generated at run time, the IL loader (which then
    /// takes "il" executables; without it the portable loader interprets them).
    /// </summary>
    public Instance()
    {
        Types.Register("hal.buffer", typeof(DeviceBuffer));
        Types.Register("hal.buffer_view", typeof(BufferView));
        Types.Register("seq.tensor_sequence", typeof(TensorSequence));
        Types.Register("str.string_tensor", typeof(StringTensor));
        RegisterNativeModule(HalModule.Create());
        RegisterNativeModule(SequenceModule.Create());
        RegisterNativeModule(StringModule.Create());
        RegisterLoader(new PortableExecutableLoader());
        if (RuntimeFeature.IsDynamicCodeSupported) RegisterLoader(new IlExecutableLoader());
    }

    public TypeRegistry Types { get; } = new();

    public void RegisterLoader(ExecutableLoader loader)
    {
        lock (_lock) _loaders.Insert(0, loader); // later registrations take precedence
    }

    public void RegisterNativeModule(NativeModule module)
    {
        lock (_lock)
        {
            if (!_modules.TryAdd(module.Name, module))
                throw new KilnRuntimeException(StatusCode.InvalidArgument, $"native module '{module.Name}' is already registered");
        }
    }

    internal ExecutableLoader? FindLoader(string format)
    {
        lock (_lock) return _loaders.FirstOrDefault(l => l.CanLoad(format));
    }

    internal NativeFunctionInfo? FindNative(string qualifiedName)
    {
        int dot = qualifiedName.IndexOf('.');
        if (dot <= 0) return null;
        lock (_lock)
        {
            return _modules.TryGetValue(qualifiedName[..dot], out var m) && m.TryGet(qualifiedName[(dot + 1)..], out var f) ? f : null;
        }
    }

    /// <summary>Creates a context running <paramref name="module"/> on <paramref name="device"/>.</summary>
    public Context CreateContext(Module module, Device device, ContextOptions? options = null) => new(this, module, device, options);
}
