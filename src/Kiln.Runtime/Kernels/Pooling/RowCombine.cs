using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Kiln.Runtime.Kernels.Pooling;

/// <summary>
/// A pooling accumulation, acc ← combine(acc, x), in scalar and vector forms (the
/// System.Numerics.Tensors operator pattern: one small struct per operation, one generic loop).
/// </summary>
internal interface IPoolCombine<T> where T : unmanaged
{
    /// <summary>False when only the scalar form exists (the loop then skips the vector paths).</summary>
    bool Vectorizable { get; }
    T Combine(T acc, T x);
    Vector256<T> Combine(Vector256<T> acc, Vector256<T> x);
    Vector512<T> Combine(Vector512<T> acc, Vector512<T> x);
}

/// <summary>Maximum that skips NaN: x replaces acc when larger or when acc is NaN (start from NaN, so all-NaN windows stay NaN).</summary>
internal readonly struct MaxCombine<T> : IPoolCombine<T> where T : unmanaged, INumber<T>
{
    public bool Vectorizable => true;
    public T Combine(T acc, T x) => x > acc || T.IsNaN(acc) ? x : acc;
    public Vector256<T> Combine(Vector256<T> acc, Vector256<T> x) =>
        Vector256.ConditionalSelect(Vector256.GreaterThan(x, acc) | ~Vector256.Equals(acc, acc), x, acc);
    public Vector512<T> Combine(Vector512<T> acc, Vector512<T> x) =>
        Vector512.ConditionalSelect(Vector512.GreaterThan(x, acc) | ~Vector512.Equals(acc, acc), x, acc);
}

internal readonly struct SumCombine<T> : IPoolCombine<T> where T : unmanaged, INumber<T>
{
    public bool Vectorizable => true;
    public T Combine(T acc, T x) => acc + x;
    public Vector256<T> Combine(Vector256<T> acc, Vector256<T> x) => acc + x;
    public Vector512<T> Combine(Vector512<T> acc, Vector512<T> x) => acc + x;
}

/// <summary>LpPool with p = 1: the sum of |x|.</summary>
internal readonly struct AbsSumCombine<T> : IPoolCombine<T> where T : unmanaged, INumber<T>
{
    public bool Vectorizable => true;
    public T Combine(T acc, T x) => acc + T.Abs(x);
    public Vector256<T> Combine(Vector256<T> acc, Vector256<T> x) => acc + Vector256.Abs(x);
    public Vector512<T> Combine(Vector512<T> acc, Vector512<T> x) => acc + Vector512.Abs(x);
}

/// <summary>LpPool with p = 2: the sum of x².</summary>
internal readonly struct SquareSumCombine<T> : IPoolCombine<T> where T : unmanaged, INumber<T>
{
    public bool Vectorizable => true;
    public T Combine(T acc, T x) => acc + x * x;
    public Vector256<T> Combine(Vector256<T> acc, Vector256<T> x) => acc + x * x;
    public Vector512<T> Combine(Vector512<T> acc, Vector512<T> x) => acc + x * x;
}

/// <summary>LpPool with another p: the sum of |x|^p (scalar only).</summary>
internal readonly struct PowerSumCombine<T>(T p) : IPoolCombine<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public bool Vectorizable => false;
    public T Combine(T acc, T x) => acc + T.Pow(T.Abs(x), p);
    public Vector256<T> Combine(Vector256<T> acc, Vector256<T> x) => throw new NotSupportedException();
    public Vector512<T> Combine(Vector512<T> acc, Vector512<T> x) => throw new NotSupportedException();
}

/// <summary>The strided row loop of the pooling kernels.</summary>
internal static unsafe class RowCombine
{
    /// <summary>
    /// acc[i] = combine(acc[i], x[i·stride]) for i in [0, count). <paramref name="readable"/> is how
    /// many elements from x on may be read (≥ (count − 1)·stride + 1); stride-2 vector loads read
    /// pairs, so they stop where the last pair would pass it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply<T, TOp>(TOp op, T* acc, T* x, long stride, int count, long readable)
        where T : unmanaged where TOp : struct, IPoolCombine<T>
    {
        int i = 0;
        if (op.Vectorizable && stride == 1)
        {
            if (Vector512.IsHardwareAccelerated)
                for (; i <= count - Vector512<T>.Count; i += Vector512<T>.Count)
                    op.Combine(Vector512.Load(acc + i), Vector512.Load(x + i)).Store(acc + i);
            if (Vector256.IsHardwareAccelerated)
                for (; i <= count - Vector256<T>.Count; i += Vector256<T>.Count)
                    op.Combine(Vector256.Load(acc + i), Vector256.Load(x + i)).Store(acc + i);
        }
        else if (op.Vectorizable && stride == 2 && sizeof(T) <= 4)
        {
            // Even lanes of two consecutive vectors: x[2i], x[2i + 2], ... (the odd ones are dropped).
            long pairs = (readable + 1) / 2;
            if (Vector512.IsHardwareAccelerated)
                for (int n = Vector512<T>.Count; i + n <= count && i + n <= pairs; i += n)
                    op.Combine(Vector512.Load(acc + i), EvenLanes(Vector512.Load(x + 2 * i), Vector512.Load(x + 2 * i + n))).Store(acc + i);
            if (Vector256.IsHardwareAccelerated)
                for (int n = Vector256<T>.Count; i + n <= count && i + n <= pairs; i += n)
                    op.Combine(Vector256.Load(acc + i), EvenLanes(Vector256.Load(x + 2 * i), Vector256.Load(x + 2 * i + n))).Store(acc + i);
        }
        for (; i < count; i++) acc[i] = op.Combine(acc[i], x[i * stride]);
    }

    /// <summary>The even-indexed elements of lo then hi: each pair, read as one wider integer, narrowed to its low half.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> EvenLanes<T>(Vector512<T> lo, Vector512<T> hi) where T : unmanaged => sizeof(T) switch
    {
        4 => Vector512.Narrow(lo.AsUInt64(), hi.AsUInt64()).As<uint, T>(),
        2 => Vector512.Narrow(lo.AsUInt32(), hi.AsUInt32()).As<ushort, T>(),
        _ => Vector512.Narrow(lo.AsUInt16(), hi.AsUInt16()).As<byte, T>(),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> EvenLanes<T>(Vector256<T> lo, Vector256<T> hi) where T : unmanaged => sizeof(T) switch
    {
        4 => Vector256.Narrow(lo.AsUInt64(), hi.AsUInt64()).As<uint, T>(),
        2 => Vector256.Narrow(lo.AsUInt32(), hi.AsUInt32()).As<ushort, T>(),
        _ => Vector256.Narrow(lo.AsUInt16(), hi.AsUInt16()).As<byte, T>(),
    };
}
