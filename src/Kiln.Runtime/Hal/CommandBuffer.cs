namespace Kiln.Runtime.Hal;

/// <summary>
/// A sequence of device commands: dispatches, barriers, buffer updates and copies. The local-sync
/// device runs each command as it is recorded; the local-task device records and runs them on
/// submission. Ranges are checked when a command is recorded. Used by one thread at a time.
/// </summary>
public abstract unsafe class CommandBuffer
{
    /// <summary>Records a dispatch of <paramref name="kernel"/> over the given buffer ranges and push constants.</summary>
    public abstract void Dispatch(Kernel kernel, ReadOnlySpan<Binding> bindings, ReadOnlySpan<long> constants);

    /// <summary>Orders the commands before it before the ones after it.</summary>
    public abstract void Barrier();

    /// <summary>Writes a small value into a buffer (e.g. a shape computed by the host program).</summary>
    public abstract void Update(byte* destination, ReadOnlySpan<byte> bytes);

    public abstract void Copy(byte* source, byte* destination, long length);

    /// <summary>True when nothing recorded is waiting to run.</summary>
    public abstract bool IsEmpty { get; }

    /// <summary>Forgets recorded commands so the buffer can be recorded again.</summary>
    public abstract void Reset();

    /// <summary>Scratch memory for workgroups run on the thread that runs this buffer's commands.</summary>
    internal ScratchMemory Scratch { get; } = new();
}

/// <summary>Runs one dispatch: validates it, computes its grid, runs every workgroup (on one thread or many).</summary>
internal static unsafe class DispatchRunner
{
    public static void Run(Kernel kernel, KernelEnvironment env, Binding* bindings, int bindingCount, long* constants, int constantCount,
        WorkerPool? pool, ScratchMemory scratch)
    {
        var probe = new DispatchState(bindings, bindingCount, constants, constantCount, 1, 1, 1);
        kernel.Validate(probe);
        var (x, y, z) = kernel.WorkgroupCount(probe, env);
        if (x <= 0 || y <= 0 || z <= 0) return;
        var dispatch = new DispatchState(bindings, bindingCount, constants, constantCount, x, y, z);
        int scratchBytes = kernel.ScratchBytes(dispatch);
        long total = (long)x * y * z;
        if (pool is null || total == 1)
        {
            RunRange(kernel, env, dispatch, 0, total, 0, scratchBytes > 0 ? scratch.Get(scratchBytes) : null, scratchBytes);
            return;
        }
        pool.ParallelFor(total, scratch, (start, end, worker, workerScratch) =>
            RunRange(kernel, env, dispatch, start, end, worker, scratchBytes > 0 ? workerScratch.Get(scratchBytes) : null, scratchBytes));
    }

    private static void RunRange(Kernel kernel, KernelEnvironment env, DispatchState dispatch, long start, long end, int worker, byte* scratch, int scratchBytes)
    {
        int xy = dispatch.WorkgroupCountX * dispatch.WorkgroupCountY;
        for (long i = start; i < end; i++)
        {
            int z = (int)(i / xy), rem = (int)(i % xy);
            var wg = new WorkgroupState(rem % dispatch.WorkgroupCountX, rem / dispatch.WorkgroupCountX, z, worker, scratch, scratchBytes);
            kernel.Run(env, dispatch, wg);
        }
    }
}
