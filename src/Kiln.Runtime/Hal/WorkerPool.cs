namespace Kiln.Runtime.Hal;

/// <summary>
/// A fixed set of worker threads for fork-join parallel loops; the calling thread takes part, so
/// a pool of N workers runs loops on N + 1 threads. Workers spin briefly before sleeping, to keep
/// back-to-back dispatches cheap. Owned by a local-task device; disposing stops the threads.
/// Thread-safe; one loop runs at a time (loops from several threads are serialized).
/// </summary>
public sealed class WorkerPool : IDisposable
{
    public delegate void RangeBody(long start, long end, int worker, ScratchMemory scratch);

    private readonly Thread[] _threads;
    private readonly ScratchMemory[] _scratch;
    private readonly object _submit = new();
    private readonly SemaphoreSlim _wake;
    private volatile Job? _job;
    private volatile bool _stopping;

    private sealed class Job(long total, long chunk, RangeBody body, int participants)
    {
        public readonly long Total = total, Chunk = chunk;
        public readonly RangeBody Body = body;
        public long Next;
        public int Remaining = participants;
        public Exception? Error;
        public readonly ManualResetEventSlim Done = new(false);
    }

    public int WorkerCount => _threads.Length;

    public WorkerPool(int workers)
    {
        _wake = new SemaphoreSlim(0);
        _threads = new Thread[Math.Max(0, workers)];
        _scratch = new ScratchMemory[_threads.Length + 1];
        for (int i = 1; i < _scratch.Length; i++) _scratch[i] = new ScratchMemory();
        for (int i = 0; i < _threads.Length; i++)
        {
            int id = i + 1;
            _threads[i] = new Thread(() => WorkerLoop(id)) { IsBackground = true, Name = $"kiln-worker-{id}" };
            _threads[i].Start();
        }
    }

    /// <summary>
    /// Runs body over [0, total) in chunks on the caller (with <paramref name="callerScratch"/>) and the
    /// workers (with their own scratch); rethrows the first error.
    /// </summary>
    public void ParallelFor(long total, ScratchMemory callerScratch, RangeBody body)
    {
        if (total <= 0) return;
        int participants = (int)Math.Min(_threads.Length + 1, total);
        if (participants == 1) { body(0, total, 0, callerScratch); return; }
        lock (_submit)
        {
            long chunk = Math.Max(1, total / (participants * 4));
            var job = new Job(total, chunk, body, participants);
            _job = job;
            _wake.Release(participants - 1);
            Work(job, 0, callerScratch);
            job.Done.Wait();
            _job = null;
            if (job.Error is not null) throw job.Error is KilnRuntimeException ? job.Error : new KilnRuntimeException(StatusCode.Aborted, job.Error.Message, job.Error);
        }
    }

    private static void Work(Job job, int worker, ScratchMemory scratch)
    {
        try
        {
            while (job.Error is null)
            {
                long start = Interlocked.Add(ref job.Next, job.Chunk) - job.Chunk;
                if (start >= job.Total) break;
                job.Body(start, Math.Min(start + job.Chunk, job.Total), worker, scratch);
            }
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref job.Error, e, null);
        }
        finally
        {
            if (Interlocked.Decrement(ref job.Remaining) == 0) job.Done.Set();
        }
    }

    private void WorkerLoop(int id)
    {
        while (true)
        {
            _wake.Wait();
            if (_stopping) return;
            var job = _job;
            if (job is not null) Work(job, id, _scratch[id]);
        }
    }

    public void Dispose()
    {
        _stopping = true;
        _wake.Release(_threads.Length);
        foreach (var t in _threads) t.Join();
        _wake.Dispose();
        for (int i = 1; i < _scratch.Length; i++) _scratch[i].Dispose();
    }
}
