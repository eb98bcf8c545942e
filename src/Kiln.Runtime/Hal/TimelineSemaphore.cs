namespace Kiln.Runtime.Hal;

/// <summary>
/// A timeline semaphore: a 64-bit value that only grows, plus a failure status. The first
/// failure wins and is reported to every waiter, present and future. Waits take a deadline and
/// a cancellation token. A semaphore of a device that runs everything inline (local-sync) knows
/// that nothing can signal it later, so a wait it cannot satisfy fails at once instead of hanging.
/// Thread-safe.
/// </summary>
public sealed class TimelineSemaphore
{
    private readonly object _lock = new();
    private readonly bool _signaledOnlyInline;
    private readonly List<(ulong Value, TaskCompletionSource Waiter)> _asyncWaiters = [];
    private ulong _value;
    private Exception? _failure;

    /// <param name="initialValue">Starting value.</param>
    /// <param name="signaledOnlyInline">True when only inline work (already done by the time anyone waits) can signal it.</param>
    public TimelineSemaphore(ulong initialValue = 0, bool signaledOnlyInline = false)
    {
        _value = initialValue;
        _signaledOnlyInline = signaledOnlyInline;
    }

    public ulong Value { get { lock (_lock) return _value; } }
    public Exception? Failure { get { lock (_lock) return _failure; } }

    /// <summary>Raises the value; it may not go down. Releases the waiters it satisfies.</summary>
    public void Signal(ulong value)
    {
        List<TaskCompletionSource>? release = null;
        lock (_lock)
        {
            if (_failure is not null) return;
            if (value < _value) throw new KilnRuntimeException(StatusCode.FailedPrecondition, $"semaphore value may not go down ({_value} to {value})");
            _value = value;
            Monitor.PulseAll(_lock);
            for (int i = _asyncWaiters.Count - 1; i >= 0; i--)
                if (_asyncWaiters[i].Value <= value) { (release ??= []).Add(_asyncWaiters[i].Waiter); _asyncWaiters.RemoveAt(i); }
        }
        if (release is not null) foreach (var w in release) w.TrySetResult();
    }

    /// <summary>Marks the timeline failed; the first failure wins and every waiter receives it.</summary>
    public void Fail(Exception error)
    {
        List<TaskCompletionSource> release;
        lock (_lock)
        {
            if (_failure is not null) return;
            _failure = error;
            Monitor.PulseAll(_lock);
            release = _asyncWaiters.Select(w => w.Waiter).ToList();
            _asyncWaiters.Clear();
        }
        foreach (var w in release) w.TrySetException(Wrap(error));
    }

    /// <summary>Blocks until the value reaches <paramref name="value"/>, the timeline fails, the deadline passes, or cancellation.</summary>
    public void Wait(ulong value, TimeSpan timeout, CancellationToken cancellation = default)
    {
        var deadline = timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        using var registration = cancellation.CanBeCanceled ? cancellation.Register(() => { lock (_lock) Monitor.PulseAll(_lock); }) : default;
        lock (_lock)
        {
            while (true)
            {
                if (_failure is not null) throw Wrap(_failure);
                if (_value >= value) return;
                if (_signaledOnlyInline)
                    throw new KilnRuntimeException(StatusCode.FailedPrecondition,
                        $"wait for value {value} can never return: the semaphore is at {_value} and the local-sync device runs all work inline, so nothing will signal it");
                cancellation.ThrowIfCancellationRequested();
                long remaining = deadline - Environment.TickCount64;
                if (remaining <= 0) throw new KilnRuntimeException(StatusCode.DeadlineExceeded, $"wait for value {value} timed out (semaphore at {_value})");
                Monitor.Wait(_lock, (int)Math.Min(remaining, int.MaxValue));
            }
        }
    }

    public void Wait(ulong value, CancellationToken cancellation = default) => Wait(value, Timeout.InfiniteTimeSpan, cancellation);

    /// <summary>Completes when the value reaches <paramref name="value"/>; faults with the timeline's failure.</summary>
    public Task WaitAsync(ulong value, CancellationToken cancellation = default)
    {
        lock (_lock)
        {
            if (_failure is not null) return Task.FromException(Wrap(_failure));
            if (_value >= value) return Task.CompletedTask;
            if (_signaledOnlyInline)
                return Task.FromException(new KilnRuntimeException(StatusCode.FailedPrecondition,
                    $"wait for value {value} can never complete: the semaphore is at {_value} on the local-sync device"));
            var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _asyncWaiters.Add((value, tcs));
            if (cancellation.CanBeCanceled) cancellation.Register(() => tcs.TrySetCanceled(cancellation));
            return tcs.Task;
        }
    }

    private static Exception Wrap(Exception e) => e is KilnRuntimeException k
        ? new KilnRuntimeException(k.Code, k.Message, k)
        : new KilnRuntimeException(StatusCode.Aborted, e.Message, e);
}
