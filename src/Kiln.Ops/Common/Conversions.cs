using System.Globalization;
using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// Element type conversion of host tensors, with ONNX Cast semantics: float to integer truncates
/// toward zero (out-of-range results wrap as the C conversion through int64 does), integer to
/// integer wraps, anything to bool is "not zero", floats narrow with round-to-nearest-even (small
/// float formats saturate when <c>saturate</c> is set), strings parse and print numbers.
/// </summary>
public static class Conversions
{
    public static TensorData Convert(TensorData x, ElementType to, bool saturate = true,
        Kiln.Runtime.Numerics.E8M0Rounding e8m0Rounding = Kiln.Runtime.Numerics.E8M0Rounding.Up)
    {
        if (x.ElementType == to) return x;
        var from = x.ElementType;
        var result = TensorData.Zeros(to, x.Shape);
        long n = x.ElementCount;
        if (from == ElementType.String) { FromStrings(x.Data<string>(), result); return result; }
        if (to == ElementType.String) { ToStrings(x, result.Data<string>()); return result; }

        // Exact 64-bit integer paths (a double cannot hold every int64).
        if ((from.IsInteger() || from == ElementType.Bool) && (to.IsInteger() || to == ElementType.Bool))
        {
            bool unsignedSource = from is ElementType.UInt64;
            for (long i = 0; i < n; i++)
            {
                ulong bits = unsignedSource ? x.Data<ulong>()[i] : (ulong)x.GetInt64(i);
                SetInteger(result, i, bits);
            }
            return result;
        }
        if (from.IsFloat() && (to.IsInteger() || to == ElementType.Bool))
        {
            for (long i = 0; i < n; i++)
            {
                double d = x.GetDouble(i);
                if (to == ElementType.Bool) { result.Data<bool>()[i] = d != 0; continue; }
                if (double.IsNaN(d)) { SetInteger(result, i, to == ElementType.UInt64 ? 0 : unchecked((ulong)long.MinValue)); continue; }
                double t = Math.Truncate(d);
                ulong bits = to == ElementType.UInt64 && t >= 9223372036854775808.0
                    ? (t >= 18446744073709551615.0 ? ulong.MaxValue : (ulong)t)
                    : (ulong)(long)Math.Clamp(t, long.MinValue, long.MaxValue);
                SetInteger(result, i, bits);
            }
            return result;
        }
        // Into a float type.
        for (long i = 0; i < n; i++)
        {
            double d = from == ElementType.UInt64 ? x.Data<ulong>()[i] : from == ElementType.Int64 ? x.Data<long>()[i] : x.GetDouble(i);
            SetFloat(result, i, d, saturate, e8m0Rounding);
        }
        return result;
    }

    /// <summary>Writes the low bits of an integer into an integer or bool tensor (wrapping; bool is nonzero).</summary>
    public static void SetInteger(TensorData t, long i, ulong bits)
    {
        switch (t.ElementType)
        {
            case ElementType.Bool: t.Data<bool>()[i] = bits != 0; break;
            case ElementType.Int8: t.Data<sbyte>()[i] = unchecked((sbyte)bits); break;
            case ElementType.UInt8: t.Data<byte>()[i] = unchecked((byte)bits); break;
            case ElementType.Int16: t.Data<short>()[i] = unchecked((short)bits); break;
            case ElementType.UInt16: t.Data<ushort>()[i] = unchecked((ushort)bits); break;
            case ElementType.Int32: t.Data<int>()[i] = unchecked((int)bits); break;
            case ElementType.UInt32: t.Data<uint>()[i] = unchecked((uint)bits); break;
            case ElementType.Int64: t.Data<long>()[i] = unchecked((long)bits); break;
            case ElementType.UInt64: t.Data<ulong>()[i] = bits; break;
            case ElementType.Int4: t.Data<sbyte>()[i] = (sbyte)(((int)(bits & 0xF) ^ 8) - 8); break;
            case ElementType.UInt4: t.Data<byte>()[i] = (byte)(bits & 0xF); break;
            case ElementType.Int2: t.Data<sbyte>()[i] = (sbyte)(((int)(bits & 0x3) ^ 2) - 2); break;
            case ElementType.UInt2: t.Data<byte>()[i] = (byte)(bits & 0x3); break;
            default: throw new KilnException(ErrorCode.Unsupported, $"{t.ElementType.OnnxName()} is not an integer type");
        }
    }

    /// <summary>Writes a number into a float tensor, rounding to the tensor's format.</summary>
    public static void SetFloat(TensorData t, long i, double d, bool saturate = true,
        Kiln.Runtime.Numerics.E8M0Rounding e8m0Rounding = Kiln.Runtime.Numerics.E8M0Rounding.Up)
    {
        switch (t.ElementType)
        {
            case ElementType.Float32: t.Data<float>()[i] = (float)d; break;
            case ElementType.Float64: t.Data<double>()[i] = d; break;
            case ElementType.Float16: t.Data<Half>()[i] = (Half)d; break;
            case ElementType.BFloat16: t.Data<BFloat16>()[i] = (BFloat16)(float)d; break;
            case ElementType.Float8E8M0: t.Data<byte>()[i] = SmallFloat.FromFloatE8M0((float)d, e8m0Rounding, saturate); break;
            case ElementType.Float8E4M3FN or ElementType.Float8E4M3FNUZ or ElementType.Float8E5M2
                or ElementType.Float8E5M2FNUZ or ElementType.Float4E2M1:
                t.Data<byte>()[i] = SmallFloat.FromFloat((float)d, t.ElementType, saturate);
                break;
            default: throw new KilnException(ErrorCode.Unsupported, $"{t.ElementType.OnnxName()} is not a float type");
        }
    }

    /// <summary>Widens any float tensor to float32 (used by drivers for bf16 and the 8/4-bit formats).</summary>
    public static TensorData ToFloat32(TensorData x) => Convert(x, ElementType.Float32);

    private static void ToStrings(TensorData x, string[] dst)
    {
        for (long i = 0; i < dst.LongLength; i++)
        {
            dst[i] = x.ElementType switch
            {
                ElementType.Bool => x.Data<bool>()[i] ? "1" : "0",
                ElementType.UInt64 => x.Data<ulong>()[i].ToString(CultureInfo.InvariantCulture),
                ElementType.Float32 => FormatFloat(x.Data<float>()[i]),
                ElementType.Float64 => FormatDouble(x.Data<double>()[i]),
                _ when x.ElementType.IsInteger() => x.GetInt64(i).ToString(CultureInfo.InvariantCulture),
                _ => FormatFloat((float)x.GetDouble(i)),
            };
        }
    }

    // The shortest text that reads back to the same value, in the number's own precision.
    private static string FormatFloat(float f) => SpecialValue(f) ?? f.ToString("R", CultureInfo.InvariantCulture);
    private static string FormatDouble(double d) => SpecialValue(d) ?? d.ToString("R", CultureInfo.InvariantCulture);

    private static string? SpecialValue(double d) =>
        double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "INF" : double.IsNegativeInfinity(d) ? "-INF" : null;

    private static void FromStrings(string[] src, TensorData result)
    {
        var to = result.ElementType;
        for (long i = 0; i < src.LongLength; i++)
        {
            string s = src[i].Trim();
            if (to.IsFloat())
            {
                double d = s.ToLowerInvariant() switch
                {
                    "nan" or "+nan" or "-nan" => double.NaN,
                    "inf" or "+inf" or "infinity" or "+infinity" => double.PositiveInfinity,
                    "-inf" or "-infinity" => double.NegativeInfinity,
                    _ => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v
                        : throw new KilnException(ErrorCode.InvalidData, $"cannot convert string \"{src[i]}\" to {to.OnnxName()}"),
                };
                SetFloat(result, i, d);
            }
            else if (to == ElementType.Bool)
                result.Data<bool>()[i] = s is not ("0" or "" or "false" or "False");
            else if (to == ElementType.UInt64)
                result.Data<ulong>()[i] = ulong.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out ulong u) ? u
                    : throw new KilnException(ErrorCode.InvalidData, $"cannot convert string \"{src[i]}\" to uint64");
            else
                SetInteger(result, i, (ulong)(long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long l) ? l
                    : double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double dd) ? (long)dd
                    : throw new KilnException(ErrorCode.InvalidData, $"cannot convert string \"{src[i]}\" to {to.OnnxName()}")));
        }
    }
}
