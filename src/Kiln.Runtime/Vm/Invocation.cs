using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Vm;

/// <summary>
/// The state of one call into a context: the VM's register stacks, the command buffer being
/// recorded, the timeline semaphore that marks its completion, and the planned arena (allocated
/// once and reused by later calls). Pooled by the context; used by one thread at a time.
/// </summary>
public sealed class Invocation : IDisposable
{
    internal const int MaxCallDepth = 128;

    private ulong _timeline;

    internal Invocation(Context context)
    {
        Context = context;
        Commands = context.Device.CreateCommandBuffer();
        Semaphore = context.Device.CreateSemaphore();
    }

    public Context Context { get; }
    public CommandBuffer Commands { get; }
    internal TimelineSemaphore Semaphore { get; }

    // Register stacks: each frame uses a window; grown as calls nest.
    internal long[] Values = new long[256];
    internal object?[] Refs = new object?[256];
    internal int CallDepth;
    internal int DispatchSequence; // dispatches issued by this call so far (for the profile)

    // Scratch for native calls and dispatches.
    internal long[] ScratchValues = new long[64];
    internal object?[] ScratchRefs = new object?[64];
    internal object?[] ScratchRefResults = new object?[8];
    internal Binding[] ScratchBindings = new Binding[32];

    /// <summary>The arena of this invocation state: one block, reused while it is large enough.</summary>
    internal DeviceBuffer? Arena;

    /// <summary>Stops the host program when cancelled or past the deadline (checked on backward branches and calls).</summary>
    internal CancellationToken Cancellation;
    internal long DeadlineTicks = long.MaxValue;

    internal void CheckInterrupt(string function)
    {
        if (Cancellation.IsCancellationRequested)
            throw new KilnRuntimeException(StatusCode.Cancelled, $"invocation cancelled (in '{function}')");
        if (Environment.TickCount64 > DeadlineTicks)
            throw new KilnRuntimeException(StatusCode.DeadlineExceeded, $"invocation passed its deadline (in '{function}')");
    }

    /// <summary>Allocations are bounded per context, so a hostile module cannot exhaust memory.</summary>
    internal void CheckAllocation(long bytes, string what)
    {
        if (bytes > Context.Options.MaxBufferBytes)
            throw new KilnRuntimeException(StatusCode.ResourceExhausted, $"{what}: {bytes} bytes exceed the context's limit of {Context.Options.MaxBufferBytes}");
    }

    internal DeviceBuffer GetArena(long size)
    {
        if (Arena is null || Arena.Length < size)
        {
            CheckAllocation(size, "arena");
            Flush(); // commands recorded so far may still reference the old arena
            Arena?.Dispose();
            Arena = DeviceBuffer.AllocateNative(size, zeroed: false); // every kernel writes what it later reads
            Context.NoteArena(size);
        }
        return Arena;
    }

    /// <summary>Runs a VM function with the given arguments; results are written to the result spans.</summary>
    internal void Call(int function, ReadOnlySpan<long> valueArgs, ReadOnlySpan<object?> refArgs, Span<long> valueResults, Span<object?> refResults) =>
        Interpreter.Run(this, function, valueArgs, refArgs, valueResults, refResults, 0, 0);

    /// <summary>Runs everything recorded so far and waits for it (host reads need the data).</summary>
    public void Flush()
    {
        if (Commands.IsEmpty) return;
        ulong target = ++_timeline;
        Context.Device.Submit(Commands, Semaphore, target);
        Semaphore.Wait(target);
    }

    internal Task FlushAsync(CancellationToken cancellation)
    {
        if (Commands.IsEmpty) return Task.CompletedTask;
        ulong target = ++_timeline;
        var commands = Commands;
        var device = Context.Device;
        // The device runs the commands on a pool thread; the caller is not blocked.
        _ = Task.Run(() => device.Submit(commands, Semaphore, target), CancellationToken.None);
        return Semaphore.WaitAsync(target, cancellation);
    }

    internal void Reset()
    {
        Cancellation = default;
        DeadlineTicks = long.MaxValue;
        Commands.Reset();
        Array.Clear(Refs);
        Array.Clear(ScratchRefs);
        CallDepth = 0;
        DispatchSequence = 0;
    }

    public void Dispose()
    {
        Arena?.Dispose();
        Commands.Scratch.Dispose();
    }
}
