using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Kiln.Runtime.Kernels;

/// <summary>
/// Fused exp loops for softmax and log-sum-exp over float or double rows: one pass computes
/// exp(x − shift), stores it and sums it, where TensorPrimitives would take three (and its exp,
/// computed through double for float, is slower than the vector Exp it would need). Vector512
/// and Vector256 paths, with a scalar fallback and tail.
/// </summary>
internal static class ExpRows
{
    /// <summary>destination[i] = exp(x[i] − shift); returns Σ destination.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static T ExpShifted<T>(ReadOnlySpan<T> x, T shift, Span<T> destination) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T src = ref MemoryMarshal.GetReference(x);
        ref T dst = ref MemoryMarshal.GetReference(destination);
        int n = x.Length, i = 0;
        T sum = T.Zero;
        if (Vector512.IsHardwareAccelerated && n >= Vector512<T>.Count)
        {
            var s = Vector512.Create(shift);
            var acc = Vector512<T>.Zero;
            for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                var e = Exp(Vector512.LoadUnsafe(ref src, (nuint)i) - s);
                e.StoreUnsafe(ref dst, (nuint)i);
                acc += e;
            }
            sum = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated && n >= Vector256<T>.Count)
        {
            var s = Vector256.Create(shift);
            var acc = Vector256<T>.Zero;
            for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                var e = Exp(Vector256.LoadUnsafe(ref src, (nuint)i) - s);
                e.StoreUnsafe(ref dst, (nuint)i);
                acc += e;
            }
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++)
        {
            T e = T.Exp(Unsafe.Add(ref src, i) - shift);
            Unsafe.Add(ref dst, i) = e;
            sum += e;
        }
        return sum;
    }

    /// <summary>destination[i] = exp(x[i] − shift[i]) and sum[i] += destination[i] (neighbouring lanes of a column softmax).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ExpShiftedAccumulate<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> shift, Span<T> destination, Span<T> sum) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref T src = ref MemoryMarshal.GetReference(x);
        ref T sh = ref MemoryMarshal.GetReference(shift);
        ref T dst = ref MemoryMarshal.GetReference(destination);
        ref T acc = ref MemoryMarshal.GetReference(sum);
        int n = x.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count)
            {
                var e = Exp(Vector512.LoadUnsafe(ref src, (nuint)i) - Vector512.LoadUnsafe(ref sh, (nuint)i));
                e.StoreUnsafe(ref dst, (nuint)i);
                (Vector512.LoadUnsafe(ref acc, (nuint)i) + e).StoreUnsafe(ref acc, (nuint)i);
            }
        else if (Vector256.IsHardwareAccelerated)
            for (; i <= n - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                var e = Exp(Vector256.LoadUnsafe(ref src, (nuint)i) - Vector256.LoadUnsafe(ref sh, (nuint)i));
                e.StoreUnsafe(ref dst, (nuint)i);
                (Vector256.LoadUnsafe(ref acc, (nuint)i) + e).StoreUnsafe(ref acc, (nuint)i);
            }
        for (; i < n; i++)
        {
            T e = T.Exp(Unsafe.Add(ref src, i) - Unsafe.Add(ref sh, i));
            Unsafe.Add(ref dst, i) = e;
            Unsafe.Add(ref acc, i) += e;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Exp<T>(Vector512<T> v) => typeof(T) == typeof(float)
        ? Vector512.Exp(v.AsSingle()).As<float, T>()
        : Vector512.Exp(v.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> Exp<T>(Vector256<T> v) => typeof(T) == typeof(float)
        ? Vector256.Exp(v.AsSingle()).As<float, T>()
        : Vector256.Exp(v.AsDouble()).As<double, T>();
}
