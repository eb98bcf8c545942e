namespace Kiln.Runtime.Hal;

/// <summary>
/// A device runs command buffers. Two implementations share every module unchanged:
/// <see cref="LocalSyncDevice"/> (inline on the caller's thread, no threads created) and
/// <see cref="LocalTaskDevice"/> (each dispatch's workgroups spread over a worker pool).
/// Ownership: a device owns its worker threads; dispose it after the contexts that use it.
/// Thread-safe: command buffers may be created and submitted from several threads.
/// </summary>
public abstract class Device : IDisposable
{
    public abstract string Name { get; }

    /// <summary>The environment kernels of this device see.</summary>
    public abstract KernelEnvironment Environment { get; }

    public abstract CommandBuffer CreateCommandBuffer();

    /// <summary>Runs the recorded commands, then signals <paramref name="signal"/> to <paramref name="value"/> (or fails it).</summary>
    public abstract void Submit(CommandBuffer commands, TimelineSemaphore signal, ulong value);

    public abstract TimelineSemaphore CreateSemaphore(ulong initialValue = 0);

    public virtual void Dispose() { }
}

/// <summary>Runs each command inline as it is recorded, on the caller's thread. Creates no threads.</summary>
public sealed class LocalSyncDevice : Device
{
    public override string Name => "local-sync";
    public override KernelEnvironment Environment { get; } = new(CpuFeatureDetection.Current, 1);

    public override CommandBuffer CreateCommandBuffer() => new InlineCommandBuffer(Environment);

    public override void Submit(CommandBuffer commands, TimelineSemaphore signal, ulong value) => signal.Signal(value);

    public override TimelineSemaphore CreateSemaphore(ulong initialValue = 0) => new(initialValue, signaledOnlyInline: true);

    private sealed unsafe class InlineCommandBuffer(KernelEnvironment env) : CommandBuffer
    {
        public override void Dispatch(Kernel kernel, ReadOnlySpan<Binding> bindings, ReadOnlySpan<long> constants)
        {
            fixed (Binding* b = bindings)
            fixed (long* c = constants)
                DispatchRunner.Run(kernel, env, b, bindings.Length, c, constants.Length, null, Scratch);
        }

        public override void Barrier() { }
        public override void Update(byte* destination, ReadOnlySpan<byte> bytes) => bytes.CopyTo(new Span<byte>(destination, bytes.Length));
        public override void Copy(byte* source, byte* destination, long length) => System.Buffer.MemoryCopy(source, destination, length, length);
        public override bool IsEmpty => true;
        public override void Reset() { }
    }
}

/// <summary>
/// Records commands and runs them on submission; each dispatch's workgroups are spread across a
/// worker pool (the submitting thread takes part). Commands run in order; a barrier is implied
/// between dispatches.
/// </summary>
public sealed class LocalTaskDevice : Device
{
    private readonly WorkerPool _pool;

    /// <param name="threads">Threads that run workgroups, including the submitting thread (default: all processors).</param>
    public LocalTaskDevice(int threads = 0)
    {
        if (threads <= 0) threads = System.Environment.ProcessorCount;
        _pool = new WorkerPool(threads - 1);
        Environment = new KernelEnvironment(CpuFeatureDetection.Current, threads);
    }

    public override string Name => "local-task";
    public override KernelEnvironment Environment { get; }

    public override CommandBuffer CreateCommandBuffer() => new RecordingCommandBuffer();

    public override TimelineSemaphore CreateSemaphore(ulong initialValue = 0) => new(initialValue);

    public override void Submit(CommandBuffer commands, TimelineSemaphore signal, ulong value)
    {
        var recorded = (RecordingCommandBuffer)commands;
        try
        {
            recorded.Execute(Environment, _pool);
            signal.Signal(value);
        }
        catch (Exception e)
        {
            signal.Fail(e);
        }
        finally
        {
            recorded.Reset();
        }
    }

    public override void Dispose() => _pool.Dispose();

    /// <summary>Commands kept in flat arrays that are reused from one recording to the next.</summary>
    private sealed unsafe class RecordingCommandBuffer : CommandBuffer
    {
        private enum Kind : byte { Dispatch, Update, Copy }

        private readonly List<(Kind Kind, object? Kernel, int First, int Count, int FirstConstant, int ConstantCount)> _commands = [];
        private Binding[] _bindings = new Binding[64];
        private long[] _constants = new long[256];
        private byte[] _bytes = new byte[256];
        private int _bindingCount, _constantCount, _byteCount;

        public override void Dispatch(Kernel kernel, ReadOnlySpan<Binding> bindings, ReadOnlySpan<long> constants)
        {
            Grow(ref _bindings, _bindingCount + bindings.Length);
            Grow(ref _constants, _constantCount + constants.Length);
            bindings.CopyTo(_bindings.AsSpan(_bindingCount));
            constants.CopyTo(_constants.AsSpan(_constantCount));
            _commands.Add((Kind.Dispatch, kernel, _bindingCount, bindings.Length, _constantCount, constants.Length));
            _bindingCount += bindings.Length;
            _constantCount += constants.Length;
        }

        public override void Barrier() { }

        public override void Update(byte* destination, ReadOnlySpan<byte> bytes)
        {
            Grow(ref _bytes, _byteCount + bytes.Length);
            bytes.CopyTo(_bytes.AsSpan(_byteCount));
            Grow(ref _bindings, _bindingCount + 1);
            _bindings[_bindingCount] = new Binding(destination, bytes.Length);
            _commands.Add((Kind.Update, null, _bindingCount++, 1, _byteCount, bytes.Length));
            _byteCount += bytes.Length;
        }

        public override void Copy(byte* source, byte* destination, long length)
        {
            Grow(ref _bindings, _bindingCount + 2);
            _bindings[_bindingCount] = new Binding(source, length);
            _bindings[_bindingCount + 1] = new Binding(destination, length);
            _commands.Add((Kind.Copy, null, _bindingCount, 2, 0, 0));
            _bindingCount += 2;
        }

        public override bool IsEmpty => _commands.Count == 0;

        public override void Reset()
        {
            _commands.Clear();
            _bindingCount = _constantCount = _byteCount = 0;
        }

        public void Execute(KernelEnvironment env, WorkerPool pool)
        {
            fixed (Binding* b = _bindings)
            fixed (long* c = _constants)
            fixed (byte* bytes = _bytes)
            {
                foreach (var cmd in _commands)
                {
                    switch (cmd.Kind)
                    {
                        case Kind.Dispatch:
                            DispatchRunner.Run((Kernel)cmd.Kernel!, env, b + cmd.First, cmd.Count, c + cmd.FirstConstant, cmd.ConstantCount, pool, Scratch);
                            break;
                        case Kind.Update:
                            System.Buffer.MemoryCopy(bytes + cmd.FirstConstant, b[cmd.First].Data, cmd.ConstantCount, cmd.ConstantCount);
                            break;
                        case Kind.Copy:
                            System.Buffer.MemoryCopy(b[cmd.First].Data, b[cmd.First + 1].Data, b[cmd.First].Length, b[cmd.First].Length);
                            break;
                    }
                }
            }
        }

        private static void Grow<T>(ref T[] array, int needed)
        {
            if (needed > array.Length) Array.Resize(ref array, Math.Max(needed, array.Length * 2));
        }
    }
}
