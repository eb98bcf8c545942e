using System.Numerics;

namespace Kiln.Runtime.Kernels.Indexing;

/// <summary>How a scatter combines an update with the element it lands on.</summary>
public enum ScatterReduction : byte { None = 0, Add = 1, Mul = 2, Max = 3, Min = 4 }

/// <summary>
/// The element arithmetic the scatter kernels share: "none" copies the update's bits; the
/// reductions combine in the element's own type (float16 rounds after each step, as the reference
/// does; bfloat16, which the reference widens, is not accepted with a reduction).
/// </summary>
public static unsafe class ScatterUpdates
{
    public static bool Supports(DType dtype, ScatterReduction reduction) => reduction == ScatterReduction.None
        ? DescriptorFields.Is(dtype, DTypeKind.Movable)
        : DescriptorFields.Is(dtype, DTypeKind.Numeric) && dtype is not (DType.BFloat16 or DType.Bool);

    internal static ScatterReduction Read(ref DescriptorReader r, DType dtype)
    {
        var reduction = (ScatterReduction)r.U8();
        if (reduction > ScatterReduction.Min) throw r.Invalid($"unknown reduction {(byte)reduction}");
        if (!Supports(dtype, reduction)) throw r.Invalid($"reduction {reduction} is not supported on {dtype.Name()}");
        return reduction;
    }

    /// <summary>A visitor over the element type: T is the storage type of the scatter's dtype.</summary>
    internal interface IVisitor
    {
        void Visit<T>() where T : unmanaged, INumber<T>;
    }

    /// <summary>Calls <paramref name="visitor"/> with the storage type of <paramref name="dtype"/> (byte blobs for "none").</summary>
    internal static void Dispatch<TVisitor>(DType dtype, ScatterReduction reduction, ref TVisitor visitor) where TVisitor : struct, IVisitor
    {
        if (reduction == ScatterReduction.None)
        {
            switch (dtype.Size())
            {
                case 1: visitor.Visit<byte>(); break;
                case 2: visitor.Visit<ushort>(); break;
                case 4: visitor.Visit<uint>(); break;
                default: visitor.Visit<ulong>(); break;
            }
            return;
        }
        switch (dtype)
        {
            case DType.Float32: visitor.Visit<float>(); break;
            case DType.Float64: visitor.Visit<double>(); break;
            case DType.Float16: visitor.Visit<Half>(); break;
            case DType.Int8: visitor.Visit<sbyte>(); break;
            case DType.UInt8: visitor.Visit<byte>(); break;
            case DType.Int16: visitor.Visit<short>(); break;
            case DType.UInt16: visitor.Visit<ushort>(); break;
            case DType.Int32: visitor.Visit<int>(); break;
            case DType.UInt32: visitor.Visit<uint>(); break;
            case DType.Int64: visitor.Visit<long>(); break;
            default: visitor.Visit<ulong>(); break;
        }
    }

    /// <summary>target[i] = combine(target[i], update[i]) for a run of elements.</summary>
    internal static void Apply<T>(ScatterReduction reduction, T* target, T* update, long count) where T : unmanaged, INumber<T>
    {
        switch (reduction)
        {
            case ScatterReduction.None: for (long i = 0; i < count; i++) target[i] = update[i]; break;
            case ScatterReduction.Add: for (long i = 0; i < count; i++) target[i] += update[i]; break;
            case ScatterReduction.Mul: for (long i = 0; i < count; i++) target[i] *= update[i]; break;
            case ScatterReduction.Max: for (long i = 0; i < count; i++) target[i] = T.Max(target[i], update[i]); break;
            default: for (long i = 0; i < count; i++) target[i] = T.Min(target[i], update[i]); break;
        }
    }
}
