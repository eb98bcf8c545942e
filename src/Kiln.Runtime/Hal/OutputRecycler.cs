namespace Kiln.Runtime.Hal;

/// <summary>
/// Pinned arrays of outputs the caller has disposed, kept for the next invocation's outputs. A
/// fresh multi-megabyte array costs page faults and, soon, a full garbage collection (about
/// 1–2 ms for 2.4 MB here, more than many kernels); one taken from here is warm. Outputs never
/// disposed are simply collected, as before. Bounded: at most <see cref="MaxArrays"/> arrays and
/// <see cref="MaxBytes"/> bytes are kept; an array is reused only for a request at least half
/// its size. Owned by a context. Thread-safe.
/// </summary>
public sealed class OutputRecycler
{
    public const int MaxArrays = 32;
    public const long MaxBytes = 256L << 20;
    /// <summary>Arrays below this size are left to the allocator (it is fast for them).</summary>
    public const int MinBytes = 64 << 10;

    private readonly List<byte[]> _free = [];
    private long _bytes;

    /// <summary>A pinned array of at least <paramref name="length"/> bytes: a kept one that fits, else new.</summary>
    internal byte[] Rent(int length)
    {
        if (length >= MinBytes)
            lock (_free)
            {
                int best = -1;
                for (int i = 0; i < _free.Count; i++)
                    if (_free[i].Length >= length && _free[i].Length / 2 <= length && (best < 0 || _free[i].Length < _free[best].Length)) best = i;
                if (best >= 0)
                {
                    var array = _free[best];
                    _free.RemoveAt(best);
                    _bytes -= array.Length;
                    return array;
                }
            }
        return GC.AllocateUninitializedArray<byte>(length, pinned: true);
    }

    /// <summary>Keeps a disposed output's array for reuse (dropped when the recycler is full).</summary>
    internal void Return(byte[] array)
    {
        if (array.Length < MinBytes) return;
        lock (_free)
        {
            if (_free.Count >= MaxArrays || _bytes + array.Length > MaxBytes) return;
            _free.Add(array);
            _bytes += array.Length;
        }
    }

    /// <summary>Bytes held for reuse.</summary>
    public long HeldBytes { get { lock (_free) return _bytes; } }
}
