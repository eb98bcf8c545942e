using System.Diagnostics;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Vm;

/// <summary>
/// Wall time per dispatch, for finding where a model spends its time (`kiln bench --profile`).
/// Set on <see cref="ContextOptions.Profile"/>: every dispatch of every invocation is then timed
/// from recording to completion on the local-sync device, which runs each dispatch as it is
/// recorded (a recording device such as local-task would show recording time only), keyed by its position in the invocation (the n-th dispatch the
/// host program issued), which for a program without branches or loops is the n-th dispatch step
/// of the plan. Costs two timestamps and a lock per dispatch; off (null) by default.
/// Thread-safe.
/// </summary>
public sealed class DispatchProfile
{
    private readonly object _lock = new();
    private readonly List<Entry> _entries = [];

    /// <summary>One dispatch position: the kernel that ran there, how often, and the total time.</summary>
    public sealed record Entry(int Sequence, string Kernel, long Calls, TimeSpan Total);

    internal void Record(int sequence, Kernel kernel, long startTimestamp)
    {
        long elapsed = Stopwatch.GetTimestamp() - startTimestamp;
        lock (_lock)
        {
            while (_entries.Count <= sequence) _entries.Add(new Entry(_entries.Count, "", 0, TimeSpan.Zero));
            var e = _entries[sequence];
            _entries[sequence] = new Entry(sequence, kernel.Name, e.Calls + 1, e.Total + Stopwatch.GetElapsedTime(0, elapsed));
        }
    }

    /// <summary>Forgets everything recorded (after warm-up runs).</summary>
    public void Clear()
    {
        lock (_lock) _entries.Clear();
    }

    /// <summary>A snapshot of the entries, by position.</summary>
    public IReadOnlyList<Entry> Entries
    {
        get { lock (_lock) return _entries.ToArray(); }
    }
}
