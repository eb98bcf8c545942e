namespace Kiln.Runtime.Hal;

// The kernel ABI: a kernel entry point sees only three small read-only structures — the
// environment, the dispatch state, and the workgroup state — and makes no other call into the
// host. Bindings are raw byte ranges: arena slices, constant segments used in place, tensors.

/// <summary>One buffer range a dispatch binds (already checked to lie inside its buffer).</summary>
public readonly unsafe struct Binding(byte* data, long length)
{
    public readonly byte* Data = data;
    public readonly long Length = length;

    public Span<T> As<T>() where T : unmanaged => new(Data, checked((int)(Length / sizeof(T))));
}

/// <summary>Per-dispatch parameters: bindings, push constants (i64), and the workgroup grid.</summary>
public readonly unsafe struct DispatchState(Binding* bindings, int bindingCount, long* constants, int constantCount, int countX, int countY, int countZ)
{
    public readonly Binding* Bindings = bindings;
    public readonly int BindingCount = bindingCount;
    public readonly long* Constants = constants;
    public readonly int ConstantCount = constantCount;
    public readonly int WorkgroupCountX = countX, WorkgroupCountY = countY, WorkgroupCountZ = countZ;

    public ref readonly Binding Binding(int i) => ref Bindings[i];
    public long Constant(int i) => Constants[i];
    public ReadOnlySpan<long> ConstantSpan => new(Constants, ConstantCount);
}

/// <summary>Per-workgroup parameters: which tile of the grid, on which worker, with what scratch memory.</summary>
public readonly unsafe struct WorkgroupState(int x, int y, int z, int workerId, byte* scratch, int scratchLength)
{
    public readonly int X = x, Y = y, Z = z;
    public readonly int WorkerId = workerId;
    public readonly byte* Scratch = scratch;
    public readonly int ScratchLength = scratchLength;
}

/// <summary>What every kernel of a context may read: processor features and the worker count.</summary>
public sealed class KernelEnvironment(CpuFeatures features, int workerCount)
{
    public CpuFeatures Features { get; } = features;
    public int WorkerCount { get; } = workerCount;
}

/// <summary>
/// A loaded kernel: one entry of an executable's export table, with its descriptor already parsed
/// and verified by its loader. Kernels are stateless after loading and thread-safe: workgroups of
/// one dispatch run concurrently on several workers.
/// </summary>
public abstract class Kernel
{
    /// <summary>The kernel family name the module refers to ("elementwise", "matmul", ...).</summary>
    public abstract string Name { get; }

    /// <summary>
    /// Checks, once per dispatch, that the bindings are large enough for what the constants
    /// describe, so <see cref="Run"/> cannot read or write outside them. Throws OutOfRange.
    /// </summary>
    public abstract void Validate(in DispatchState dispatch);

    /// <summary>The workgroup grid for a dispatch (decided by the kernel, from its constants and the worker count).</summary>
    public abstract (int X, int Y, int Z) WorkgroupCount(in DispatchState dispatch, KernelEnvironment environment);

    /// <summary>Scratch bytes each workgroup needs.</summary>
    public virtual int ScratchBytes(in DispatchState dispatch) => 0;

    public abstract void Run(KernelEnvironment environment, in DispatchState dispatch, in WorkgroupState workgroup);

    protected static KilnRuntimeException OutOfRange(string message) => new(StatusCode.OutOfRange, message);
}

/// <summary>An executable: the kernels of one module executable, by ordinal.</summary>
public sealed class Executable(string format, Kernel[] kernels)
{
    public string Format { get; } = format;
    public IReadOnlyList<Kernel> Kernels { get; } = kernels;
}

/// <summary>
/// Turns a module executable (a format name and kernel records with descriptors) into runnable
/// kernels, verifying every descriptor. Registered with an <see cref="Instance"/>.
/// </summary>
public abstract class ExecutableLoader
{
    public abstract bool CanLoad(string format);

    /// <summary>Loads one kernel; throws InvalidModule for a malformed descriptor, Unsupported for an unknown kernel.</summary>
    public abstract Kernel LoadKernel(string name, ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount, ulong contentHash);
}
