using System.Runtime.CompilerServices;

namespace Kiln.Runtime.Kernels.Indexing;

/// <summary>
/// Index tensors as the indexing kernels read them: int32 or int64 elements, negative values
/// counting from the end of their axis, and every value checked against its axis before it is
/// used, so data from a model's inputs can never steer a read or write outside a tensor.
/// </summary>
internal static unsafe class IndexValues
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Read(DType type, byte* indices, long i) => type == DType.Int64 ? ((long*)indices)[i] : ((int*)indices)[i];

    /// <summary>The position an index names along an axis of <paramref name="size"/>, or an OutOfRange error.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Resolve(long index, long size, string kernel)
    {
        if (index < -size || index >= size) throw Fail(index, size, kernel);
        return index < 0 ? index + size : index;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static KilnRuntimeException Fail(long index, long size, string kernel) =>
        DispatchChecks.OutOfRange(kernel, $"index {index} is out of range for an axis of size {size}");

    /// <summary>Copies one element of <paramref name="size"/> bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CopyElement(byte* from, byte* to, int size) => Unsafe.CopyBlockUnaligned(to, from, (uint)size);
}
