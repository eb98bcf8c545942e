using System.Diagnostics;

namespace Kiln.Runtime.Hal;

/// <summary>
/// A fixed set of worker threads for fork-join parallel loops; the calling thread takes part, so
/// a pool of N workers runs loops on N + 1 threads.
/// <para>
/// Hand-off: a loop is published by bumping a sequence number. A worker that finished a loop less
/// than <see cref="SpinWindowMicroseconds"/> ago is still spinning on that number and joins within
/// nanoseconds; only a worker idle for longer sleeps on a semaphore, which the next loop releases
/// (waking a sleeping thread costs tens of microseconds on this kind of machine, more than many
/// dispatches take). So the dispatches of one inference, which follow each other within
/// microseconds, never pay a wake-up, and an idle pool costs no CPU after the window.
/// </para>
/// <para>
/// Completion counts chunks, not threads: the caller returns as soon as every chunk has run, even
/// if a worker never woke up for the loop (a late worker finds no chunk left and touches nothing).
/// </para>
/// Owned by a local-task device; disposing stops the threads. Thread-safe; one loop runs at a
/// time (loops from several threads are serialized).
/// </summary>
public sealed class WorkerPool : IDisposable
{
    public delegate void RangeBody(long start, long end, int worker, ScratchMemory scratch);

    /// <summary>How long an idle worker keeps spinning for the next loop before it sleeps, in microseconds.</summary>
    public const int SpinWindowMicroseconds = 1000;

    private readonly Thread[] _threads;
    private readonly ScratchMemory[] _scratch;
    private readonly object _submit = new();
    private readonly SemaphoreSlim _wake;
    private readonly long _spinTicks;
    private Job? _job;
    private long _sequence;   // bumped once per loop, after _job is set
    private int _sleeping;    // workers blocked (or about to block) on _wake
    private volatile bool _stopping;

    private sealed class Job(long total, long chunk)
    {
        public readonly long Total = total, Chunk = chunk, Chunks = (total + chunk - 1) / chunk;
        public required RangeBody Body;
        public long Next, Completed;
        public Exception? Error;
    }

    public int WorkerCount => _threads.Length;

    public WorkerPool(int workers)
    {
        _wake = new SemaphoreSlim(0);
        _spinTicks = Stopwatch.Frequency * SpinWindowMicroseconds / 1_000_000;
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
            var job = new Job(total, Math.Max(1, total / (participants * 4))) { Body = body };
            Volatile.Write(ref _job, job);
            Interlocked.Increment(ref _sequence);
            int sleeping = Volatile.Read(ref _sleeping);
            if (sleeping > 0) _wake.Release(sleeping);
            Work(job, 0, callerScratch);
            var spin = new SpinWait();
            while (Volatile.Read(ref job.Completed) < job.Chunks) spin.SpinOnce(sleep1Threshold: -1);
            Volatile.Write(ref _job, null);
            if (job.Error is not null) throw job.Error is KilnRuntimeException ? job.Error : new KilnRuntimeException(StatusCode.Aborted, job.Error.Message, job.Error);
        }
    }

    private static void Work(Job job, int worker, ScratchMemory scratch)
    {
        while (true)
        {
            long start = Interlocked.Add(ref job.Next, job.Chunk) - job.Chunk;
            if (start >= job.Total) return;
            try
            {
                if (job.Error is null) job.Body(start, Math.Min(start + job.Chunk, job.Total), worker, scratch);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref job.Error, e, null);
            }
            finally
            {
                Interlocked.Increment(ref job.Completed);
            }
        }
    }

    private void WorkerLoop(int id)
    {
        long seen = 0, idleSince = Stopwatch.GetTimestamp();
        while (!_stopping)
        {
            long sequence = Volatile.Read(ref _sequence);
            if (sequence != seen)
            {
                seen = sequence;
                var job = Volatile.Read(ref _job);
                if (job is not null) Work(job, id, _scratch[id]);
                idleSince = Stopwatch.GetTimestamp();
                continue;
            }
            if (Stopwatch.GetTimestamp() - idleSince < _spinTicks)
            {
                Thread.SpinWait(16);
                continue;
            }
            // Announce the sleep, then look once more: a loop published in between is seen here, or
            // its publisher saw _sleeping and released the semaphore (a spare release only wakes us early).
            Interlocked.Increment(ref _sleeping);
            if (Volatile.Read(ref _sequence) == seen && !_stopping) _wake.Wait();
            Interlocked.Decrement(ref _sleeping);
            idleSince = Stopwatch.GetTimestamp();
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
