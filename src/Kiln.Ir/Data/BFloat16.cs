using System.Runtime.CompilerServices;

namespace Kiln.Ir;

/// <summary>
/// bfloat16: the top 16 bits of an IEEE float32. Conversion from float rounds to nearest even
/// and keeps NaN a NaN (the base library has no such type in .NET 10).
/// </summary>
public readonly struct BFloat16 : IEquatable<BFloat16>
{
    public readonly ushort Bits;

    public BFloat16(ushort bits) => Bits = bits;

    public static BFloat16 FromBits(ushort bits) => new(bits);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static explicit operator float(BFloat16 v) => BitConverter.Int32BitsToSingle(v.Bits << 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static explicit operator BFloat16(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return new BFloat16((ushort)((bits >> 16) | 0x40)); // quiet NaN, sign kept
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return new BFloat16((ushort)((bits + rounding) >> 16));
    }

    /// <summary>Conversion by truncation (round toward zero), as some ONNX producers do.</summary>
    public static BFloat16 Truncate(float f) => new((ushort)(BitConverter.SingleToUInt32Bits(f) >> 16));

    public bool Equals(BFloat16 other) => Bits == other.Bits;
    public override bool Equals(object? obj) => obj is BFloat16 b && Equals(b);
    public override int GetHashCode() => Bits;
    public override string ToString() => ((float)this).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
}
