using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// Result buffers of the operator kernels, allocated through <see cref="TensorData.Zeros"/> so a
/// model asking for an absurd size fails with a <see cref="KilnException"/> rather than exhausting memory.
/// </summary>
public static class HostBuffers
{
    public static T[] Allocate<T>(long[] shape) => (T[])TensorData.Zeros(ElementTypeOf<T>(), shape).Storage;

    private static ElementType ElementTypeOf<T>() => Type.GetTypeCode(typeof(T)) switch
    {
        TypeCode.Single => ElementType.Float32,
        TypeCode.Double => ElementType.Float64,
        TypeCode.SByte => ElementType.Int8,
        TypeCode.Byte => ElementType.UInt8,
        TypeCode.Int16 => ElementType.Int16,
        TypeCode.UInt16 => ElementType.UInt16,
        TypeCode.Int32 => ElementType.Int32,
        TypeCode.UInt32 => ElementType.UInt32,
        TypeCode.Int64 => ElementType.Int64,
        TypeCode.UInt64 => ElementType.UInt64,
        _ when typeof(T) == typeof(Half) => ElementType.Float16,
        _ => throw new InvalidOperationException($"no element type is stored as {typeof(T).Name}"),
    };
}
