namespace Kiln.Ir;

/// <summary>
/// Decoding and encoding of the 8-bit and 4-bit float formats ONNX defines (held as raw bit
/// patterns, one per byte): float8 e4m3fn, e4m3fnuz, e5m2, e5m2fnuz, e8m0 and float4 e2m1.
/// Encoding rounds to nearest even by searching a sorted table of each format's finite values,
/// which is slow but obviously right; compiled kernels use their own fast paths.
/// Thread-safe: the tables are built once and never written again.
/// </summary>
public static class SmallFloat
{
    private sealed class Format
    {
        public required ElementType Type;
        public required int ExpBits, ManBits, Bias;
        public required bool HasInf;        // e5m2: all-ones exponent with zero mantissa is infinity
        public required bool UnsignedZero;  // *fnuz: 0x80 is the only NaN, no negative zero
        public required bool AllOnesIsNaN;  // e4m3fn: only S.1111.111 is NaN (no infinities)
        public required byte NaN;
        public float[] Decoded = [];
        public float Max;
        // Non-negative finite values, ascending, with their codes (for round-to-nearest-even).
        public float[] Values = [];
        public byte[] Codes = [];
    }

    private static readonly Format E4M3FN = Build(new Format { Type = ElementType.Float8E4M3FN, ExpBits = 4, ManBits = 3, Bias = 7, HasInf = false, UnsignedZero = false, AllOnesIsNaN = true, NaN = 0x7F });
    private static readonly Format E4M3FNUZ = Build(new Format { Type = ElementType.Float8E4M3FNUZ, ExpBits = 4, ManBits = 3, Bias = 8, HasInf = false, UnsignedZero = true, AllOnesIsNaN = false, NaN = 0x80 });
    private static readonly Format E5M2 = Build(new Format { Type = ElementType.Float8E5M2, ExpBits = 5, ManBits = 2, Bias = 15, HasInf = true, UnsignedZero = false, AllOnesIsNaN = false, NaN = 0x7F });
    private static readonly Format E5M2FNUZ = Build(new Format { Type = ElementType.Float8E5M2FNUZ, ExpBits = 5, ManBits = 2, Bias = 16, HasInf = false, UnsignedZero = true, AllOnesIsNaN = false, NaN = 0x80 });
    private static readonly Format E2M1 = Build(new Format { Type = ElementType.Float4E2M1, ExpBits = 2, ManBits = 1, Bias = 1, HasInf = false, UnsignedZero = false, AllOnesIsNaN = false, NaN = 0 });

    private static Format Get(ElementType t) => t switch
    {
        ElementType.Float8E4M3FN => E4M3FN,
        ElementType.Float8E4M3FNUZ => E4M3FNUZ,
        ElementType.Float8E5M2 => E5M2,
        ElementType.Float8E5M2FNUZ => E5M2FNUZ,
        ElementType.Float4E2M1 => E2M1,
        _ => throw new ArgumentException($"{t} is not a small float format"),
    };

    private static Format Build(Format f)
    {
        int bits = 1 + f.ExpBits + f.ManBits;
        int count = 1 << bits;
        f.Decoded = new float[count];
        for (int code = 0; code < count; code++) f.Decoded[code] = DecodeSlow(f, code);
        var finite = Enumerable.Range(0, count)
            .Where(c => (c >> (bits - 1)) == 0 && float.IsFinite(f.Decoded[c]))
            .OrderBy(c => f.Decoded[c]).ToArray();
        f.Values = finite.Select(c => f.Decoded[c]).ToArray();
        f.Codes = finite.Select(c => (byte)c).ToArray();
        f.Max = f.Values[^1];
        return f;
    }

    private static float DecodeSlow(Format f, int code)
    {
        int bits = 1 + f.ExpBits + f.ManBits;
        int sign = (code >> (bits - 1)) & 1;
        int exp = (code >> f.ManBits) & ((1 << f.ExpBits) - 1);
        int man = code & ((1 << f.ManBits) - 1);
        int expMax = (1 << f.ExpBits) - 1;
        if (f.UnsignedZero && code == 0x80) return float.NaN;
        if (f.AllOnesIsNaN && exp == expMax && man == (1 << f.ManBits) - 1) return float.NaN;
        if (f.HasInf && exp == expMax) return man == 0 ? (sign == 1 ? float.NegativeInfinity : float.PositiveInfinity) : float.NaN;
        double v = exp == 0
            ? man * Math.Pow(2, 1 - f.Bias - f.ManBits)
            : (1 + man / (double)(1 << f.ManBits)) * Math.Pow(2, exp - f.Bias);
        return (float)(sign == 1 ? -v : v);
    }

    /// <summary>Decodes a bit pattern of a small float type (including f8e8m0) to float.</summary>
    public static float ToFloat(byte bits, ElementType type)
    {
        if (type == ElementType.Float8E8M0) return bits == 0xFF ? float.NaN : (float)Math.Pow(2, bits - 127);
        var f = Get(type);
        return f.Decoded[type == ElementType.Float4E2M1 ? bits & 0xF : bits];
    }

    /// <summary>
    /// Encodes a float, rounding to nearest even. With <paramref name="saturate"/>, values beyond the
    /// largest finite value (and infinities, for formats without them) become ±max; without it they
    /// become infinity where the format has one, NaN otherwise (ONNX Cast semantics).
    /// </summary>
    public static byte FromFloat(float x, ElementType type, bool saturate = true)
    {
        if (type == ElementType.Float8E8M0) return FromFloatE8M0(x, E8M0Rounding.Up, saturate);
        var f = Get(type);
        if (float.IsNaN(x)) return f.NaN;
        byte signBit = (byte)(type == ElementType.Float4E2M1 ? 0x8 : 0x80);
        bool negative = x < 0 || (x == 0 && float.IsNegative(x));
        float a = Math.Abs(x);
        byte code;
        if (float.IsInfinity(a))
        {
            if (saturate) code = f.Codes[^1];
            else if (f.HasInf) code = (byte)(((1 << f.ExpBits) - 1) << f.ManBits);
            else return f.NaN;
        }
        else
        {
            code = RoundToNearestEven(f, a, out bool overflow);
            if (overflow)
            {
                if (saturate) code = f.Codes[^1];
                else if (f.HasInf) code = (byte)(((1 << f.ExpBits) - 1) << f.ManBits);
                else if (type == ElementType.Float4E2M1) code = f.Codes[^1];
                else return f.NaN;
            }
        }
        if (negative && !(f.UnsignedZero && code == 0)) code |= signBit;
        return code;
    }

    private static byte RoundToNearestEven(Format f, float a, out bool overflow)
    {
        overflow = false;
        var v = f.Values;
        if (a >= f.Max)
        {
            // Beyond max: values within half an ulp of max still round down to max.
            float ulp = f.Max - v[^2];
            if (a > f.Max && (a > f.Max + ulp / 2 || (a == f.Max + ulp / 2 && (f.Codes[^1] & 1) == 1))) overflow = true;
            return f.Codes[^1];
        }
        int i = Array.BinarySearch(v, a);
        if (i >= 0) return f.Codes[i];
        int hi = ~i, lo = hi - 1;
        double dLo = a - (double)v[lo], dHi = v[hi] - (double)a;
        if (dLo < dHi) return f.Codes[lo];
        if (dHi < dLo) return f.Codes[hi];
        return (f.Codes[lo] & 1) == 0 ? f.Codes[lo] : f.Codes[hi];
    }

    public enum E8M0Rounding { Up, Down, Nearest }

    /// <summary>Encodes to float8 e8m0 (a power of two, 2^-127 .. 2^127; 0xFF is NaN).</summary>
    public static byte FromFloatE8M0(float x, E8M0Rounding rounding, bool saturate)
    {
        if (float.IsNaN(x)) return 0xFF;
        if (float.IsInfinity(x)) return saturate ? (byte)0xFE : (byte)0xFF;
        float a = Math.Abs(x);
        if (a == 0) return 0;
        int exp = Math.ILogB(a); // floor(log2(a)) for normal and subnormal floats
        double lower = Math.ScaleB(1.0, exp);
        bool exact = a == lower;
        int e = exp;
        if (!exact)
        {
            switch (rounding)
            {
                case E8M0Rounding.Up: e = exp + 1; break;
                case E8M0Rounding.Down: e = exp; break;
                default: e = a >= lower * 1.5 ? exp + 1 : exp; break;
            }
        }
        int biased = e + 127;
        if (biased < 0) return 0;
        if (biased > 254) return saturate ? (byte)0xFE : (byte)0xFF;
        return (byte)biased;
    }
}
