namespace Kiln.Runtime.Numerics;

/// <summary>How a value becomes float8 e8m0 (a power of two): ONNX Cast's round_mode.</summary>
public enum E8M0Rounding : byte { Up = 0, Down = 1, Nearest = 2 }

/// <summary>
/// One of the small float formats ONNX defines, held as raw bit patterns one per byte: float8
/// e4m3fn, e4m3fnuz, e5m2, e5m2fnuz, and float4 e2m1 (e8m0, a bare exponent, is in
/// <see cref="E8M0"/>). Decoding reads a table of every code; encoding rounds to nearest even by
/// searching the sorted finite values, which is simple and obviously right. The tables belong to
/// the instance (built once in its constructor, never written again): thread-safe, and no process
/// state. The compiler's reference evaluator and the runtime's kernels share this code.
/// </summary>
public sealed class SmallFloatFormat
{
    private readonly int _expBits, _manBits, _bias;
    private readonly bool _hasInf, _unsignedZero, _allOnesIsNaN;
    private readonly byte _nan, _signBit;
    private readonly float[] _decoded;
    private readonly float[] _values;  // non-negative finite values, ascending
    private readonly byte[] _codes;    // their codes
    private readonly float _max;

    public DType Type { get; }

    private SmallFloatFormat(DType type, int expBits, int manBits, int bias, bool hasInf, bool unsignedZero, bool allOnesIsNaN, byte nan)
    {
        Type = type;
        (_expBits, _manBits, _bias, _hasInf, _unsignedZero, _allOnesIsNaN, _nan) = (expBits, manBits, bias, hasInf, unsignedZero, allOnesIsNaN, nan);
        int bits = 1 + expBits + manBits;
        _signBit = (byte)(1 << (bits - 1));
        _decoded = new float[1 << bits];
        for (int code = 0; code < _decoded.Length; code++) _decoded[code] = DecodeSlow(code, bits);
        var finite = new List<int>();
        for (int code = 0; code < _signBit; code++) if (float.IsFinite(_decoded[code])) finite.Add(code);
        finite.Sort((a, b) => _decoded[a].CompareTo(_decoded[b]));
        _values = new float[finite.Count];
        _codes = new byte[finite.Count];
        for (int i = 0; i < finite.Count; i++) { _values[i] = _decoded[finite[i]]; _codes[i] = (byte)finite[i]; }
        _max = _values[^1];
    }

    /// <summary>The codec of a small float dtype; null for other dtypes (e8m0 included).</summary>
    public static SmallFloatFormat? For(DType type) => type switch
    {
        DType.Float8E4M3FN => new(type, 4, 3, 7, false, false, true, 0x7F),
        DType.Float8E4M3FNUZ => new(type, 4, 3, 8, false, true, false, 0x80),
        DType.Float8E5M2 => new(type, 5, 2, 15, true, false, false, 0x7F),
        DType.Float8E5M2FNUZ => new(type, 5, 2, 16, false, true, false, 0x80),
        DType.Float4E2M1 => new(type, 2, 1, 1, false, false, false, 0),
        _ => null,
    };

    private float DecodeSlow(int code, int bits)
    {
        int sign = (code >> (bits - 1)) & 1;
        int exp = (code >> _manBits) & ((1 << _expBits) - 1);
        int man = code & ((1 << _manBits) - 1);
        int expMax = (1 << _expBits) - 1;
        if (_unsignedZero && code == 0x80) return float.NaN;
        if (_allOnesIsNaN && exp == expMax && man == (1 << _manBits) - 1) return float.NaN;
        if (_hasInf && exp == expMax) return man == 0 ? (sign == 1 ? float.NegativeInfinity : float.PositiveInfinity) : float.NaN;
        double v = exp == 0
            ? man * Math.Pow(2, 1 - _bias - _manBits)
            : (1 + man / (double)(1 << _manBits)) * Math.Pow(2, exp - _bias);
        return (float)(sign == 1 ? -v : v);
    }

    public float Decode(byte bits) => _decoded[bits & (_decoded.Length - 1)];

    /// <summary>
    /// Encodes a float, rounding to nearest even. With <paramref name="saturate"/>, values beyond the
    /// largest finite value (and infinities, for formats without them) become ±max; without it they
    /// become infinity where the format has one, NaN otherwise (ONNX Cast semantics; float4, which has
    /// no NaN, always saturates).
    /// </summary>
    public byte Encode(float x, bool saturate = true)
    {
        if (float.IsNaN(x)) return _nan;
        bool negative = x < 0 || (x == 0 && float.IsNegative(x));
        float a = Math.Abs(x);
        byte code;
        bool overflow = float.IsInfinity(a);
        code = overflow ? _codes[^1] : RoundToNearestEven(a, out overflow);
        if (overflow && !saturate)
        {
            if (_hasInf) code = (byte)(((1 << _expBits) - 1) << _manBits);
            else if (Type != DType.Float4E2M1) return _nan;
        }
        if (negative && !(_unsignedZero && code == 0)) code |= _signBit;
        return code;
    }

    /// <summary>The value <paramref name="x"/> becomes when stored in this format (encode, then decode).</summary>
    public float Round(float x, bool saturate = true) => Decode(Encode(x, saturate));

    private byte RoundToNearestEven(float a, out bool overflow)
    {
        overflow = false;
        if (a >= _max)
        {
            // Beyond max: values within half an ulp of max still round down to max.
            float ulp = _max - _values[^2];
            if (a > _max && (a > _max + ulp / 2 || (a == _max + ulp / 2 && (_codes[^1] & 1) == 1))) overflow = true;
            return _codes[^1];
        }
        int i = Array.BinarySearch(_values, a);
        if (i >= 0) return _codes[i];
        int hi = ~i, lo = hi - 1;
        double dLo = a - (double)_values[lo], dHi = _values[hi] - (double)a;
        if (dLo < dHi) return _codes[lo];
        if (dHi < dLo) return _codes[hi];
        return (_codes[lo] & 1) == 0 ? _codes[lo] : _codes[hi];
    }
}

/// <summary>float8 e8m0: an unsigned power of two, 2^-127 .. 2^127, code 0xFF is NaN.</summary>
public static class E8M0
{
    public static float Decode(byte bits) => bits == 0xFF ? float.NaN : (float)Math.Pow(2, bits - 127);

    public static byte Encode(float x, E8M0Rounding rounding, bool saturate)
    {
        if (float.IsNaN(x)) return 0xFF;
        if (float.IsInfinity(x)) return saturate ? (byte)0xFE : (byte)0xFF;
        float a = Math.Abs(x);
        if (a == 0) return 0;
        int exp = Math.ILogB(a); // floor(log2(a)) for normal and subnormal floats
        double lower = Math.ScaleB(1.0, exp);
        int e = exp;
        if (a != lower)
            e = rounding switch
            {
                E8M0Rounding.Up => exp + 1,
                E8M0Rounding.Down => exp,
                _ => a >= lower * 1.5 ? exp + 1 : exp,
            };
        int biased = e + 127;
        if (biased < 0) return 0;
        if (biased > 254) return saturate ? (byte)0xFE : (byte)0xFF;
        return (byte)biased;
    }
}
