using System.Collections.Concurrent;
using Kiln.Runtime.Format;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Vm;

/// <summary>Limits and defaults of a <see cref="Context"/>.</summary>
public sealed record ContextOptions
{
    /// <summary>The largest buffer a host program may allocate (arena or output), in bytes.</summary>
    public long MaxBufferBytes { get; init; } = 16L << 30;

    /// <summary>Times every dispatch when set (see <see cref="DispatchProfile"/>); null (off) by default.</summary>
    public DispatchProfile? Profile { get; init; }
}

/// <summary>
/// A module ready to run on a device: its imports resolved to native functions (once, here),
/// its executables loaded (kernel descriptors verified), its constant segments wrapped as buffers
/// in place, its globals initialized. Calls go through these tables; nothing is looked up by name
/// while a model runs.
/// Ownership: owns its invocation states (arenas); the module and device must outlive it.
/// Thread-safe: functions may be invoked concurrently (each call takes its own invocation state).
/// </summary>
public sealed class Context : IDisposable
{
    private readonly NativeFunction[] _imports;
    private readonly ConcurrentBag<Invocation> _idle = [];
    private readonly Dictionary<string, Function> _functions = new(StringComparer.Ordinal);
    private bool _disposed;

    internal Context(Instance instance, Module module, Device device, ContextOptions? options = null)
    {
        Options = options ?? new ContextOptions();
        Instance = instance;
        Module = module;
        Device = device;
        _imports = ResolveImports(instance, module);
        Executables = LoadExecutables(instance, module);
        Constants = new DeviceBuffer[module.SegmentCount];
        unsafe
        {
            for (int i = 0; i < Constants.Length; i++) Constants[i] = DeviceBuffer.Wrap(module.SegmentPointer(i, out long length), length);
        }
        // Constant string lists, decoded once per context (their count and size are the module's tables').
        StringLists = new string[module.StringListCount][];
        for (int i = 0; i < StringLists.Length; i++) StringLists[i] = module.StringList(i);
        Patterns = new System.Text.RegularExpressions.Regex?[StringLists.Length];
        var g = module.Globals;
        GlobalValues = new long[g.ValueCount];
        GlobalRefs = new object?[g.RefCount];
        if (g.Initializer != uint.MaxValue)
        {
            var inv = Rent();
            try { inv.Call((int)g.Initializer, [], [], [], []); inv.Flush(); }
            finally { Return(inv); }
        }
    }

    public ContextOptions Options { get; }

    /// <summary>Arrays of disposed outputs, reused for later outputs.</summary>
    internal OutputRecycler Outputs { get; } = new();
    public Instance Instance { get; }
    public Module Module { get; }
    public Device Device { get; }

    internal Executable[] Executables { get; }
    internal DeviceBuffer[] Constants { get; }
    internal long[] GlobalValues { get; }
    internal object?[] GlobalRefs { get; }
    /// <summary>The module's constant string lists (shared by the string tensors "str.constant" makes: they are immutable).</summary>
    internal string[][] StringLists { get; }
    /// <summary>Regexes compiled from pattern lists, once per context on first use ("str.regex_full_match"); slots are set atomically.</summary>
    internal System.Text.RegularExpressions.Regex?[] Patterns { get; }
    internal NativeFunction Import(int i) => _imports[i];

    /// <summary>An exported function by name.</summary>
    public Function GetFunction(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_functions)
        {
            if (_functions.TryGetValue(name, out var f)) return f;
            int export = Module.FindExport(name);
            if (export < 0)
                throw new KilnRuntimeException(StatusCode.InvalidArgument, $"the module exports no function '{name}' (exports: {string.Join(", ", Module.ExportNames)})");
            return _functions[name] = new Function(this, export);
        }
    }

    private long _arenaBytes;

    /// <summary>The largest arena any invocation of this context has used, in bytes (for memory reports).</summary>
    public long ArenaBytes => Interlocked.Read(ref _arenaBytes);

    internal void NoteArena(long bytes)
    {
        long seen;
        while (bytes > (seen = Interlocked.Read(ref _arenaBytes)) && Interlocked.CompareExchange(ref _arenaBytes, bytes, seen) != seen) { }
    }

    internal Invocation Rent() => _idle.TryTake(out var inv) ? inv : new Invocation(this);
    internal void Return(Invocation inv) { inv.Reset(); _idle.Add(inv); }

    private static NativeFunction[] ResolveImports(Instance instance, Module module)
    {
        var table = new NativeFunction[module.ImportCount];
        for (int i = 0; i < table.Length; i++)
        {
            var rec = module.Import(i);
            string name = module.String(rec.Name);
            var native = instance.FindNative(name)
                ?? throw new KilnRuntimeException(StatusCode.Unsupported, $"the module imports '{name}', which no registered native module provides");
            if (native.ValueArgs != rec.ValueArgs || native.RefArgs != rec.RefArgs || native.ValueResults != rec.ValueResults
                || native.RefResults != rec.RefResults || native.Flags != (ImportFlags)rec.Flags)
                throw new KilnRuntimeException(StatusCode.InvalidModule, $"import '{name}' is declared with a different signature than the runtime provides");
            table[i] = native.Function;
        }
        return table;
    }

    private static Executable[] LoadExecutables(Instance instance, Module module)
    {
        var result = new Executable[module.ExecutableCount];
        var shared = new Dictionary<ulong, Kernel>(); // identical kernels (same content hash and record) load once
        for (int i = 0; i < result.Length; i++)
        {
            var rec = module.Executable(i);
            string format = module.String(rec.Format);
            var loader = instance.FindLoader(format)
                ?? throw new KilnRuntimeException(StatusCode.Unsupported, $"executable {i} has format '{format}', which no registered loader handles");
            var kernels = new Kernel[rec.KernelCount];
            for (int k = 0; k < kernels.Length; k++)
            {
                int index = (int)rec.FirstKernel + k;
                var kr = module.Kernel(index);
                string name = module.String(kr.Name);
                var data = module.KernelData(index);
                if (kr.ContentHash != 0 && shared.TryGetValue(kr.ContentHash, out var existing) && existing.Name == name)
                {
                    kernels[k] = existing;
                    continue;
                }
                try { kernels[k] = loader.LoadKernel(name, data, (int)kr.BindingCount, (int)kr.ConstantCount, kr.ContentHash); }
                catch (KilnRuntimeException e) when (e.Code == StatusCode.InvalidModule)
                {
                    throw new KilnRuntimeException(StatusCode.InvalidModule, $"executable {i} kernel {k} ('{name}'): {e.Message}", e);
                }
                if (kr.ContentHash != 0) shared.TryAdd(kr.ContentHash, kernels[k]);
            }
            result[i] = new Executable(format, kernels);
        }
        return result;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        while (_idle.TryTake(out var inv)) inv.Dispose();
        foreach (var c in Constants) c.Dispose();
    }
}
