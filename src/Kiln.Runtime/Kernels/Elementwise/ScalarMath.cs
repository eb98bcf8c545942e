using System.Runtime.CompilerServices;

namespace Kiln.Runtime.Kernels.Elementwise;

/// <summary>
/// Scalar functions the base library lacks (erf), written from their mathematical definitions, and
/// the exact semantics of the elementwise IR's integer and conversion instructions. Every renderer
/// (the portable interpreter, generated IL) calls these, so the edge cases are defined once.
/// </summary>
public static class ScalarMath
{
    /// <summary>
    /// The error function in double precision: its Maclaurin series for |x| &lt; 1, and for larger
    /// |x| the continued fraction of erfc evaluated by the modified Lentz method.
    /// </summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        double a = Math.Abs(x);
        if (a < 1)
        {
            // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
            double term = x, sum = x, x2 = x * x;
            for (int n = 1; n < 40; n++)
            {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
            }
            return 2 / Math.Sqrt(Math.PI) * sum;
        }
        if (a > 6) return Math.Sign(x);
        double erfc = Erfc(a);
        return x > 0 ? 1 - erfc : erfc - 1;
    }

    /// <summary>erfc(x) for x ≥ 1: exp(-x²)/sqrt(pi) · 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))).</summary>
    private static double Erfc(double x)
    {
        const double tiny = 1e-300;
        double f = x, c = x, d = 0;
        for (int n = 1; n < 200; n++)
        {
            double an = n / 2.0;
            d = x + an * d;
            if (Math.Abs(d) < tiny) d = tiny;
            c = x + an / c;
            if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            double delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-16) break;
        }
        return Math.Exp(-x * x) / Math.Sqrt(Math.PI) / f;
    }

    /// <summary>Integer power by squaring, wrapping on overflow; negative exponents give 0 except for bases ±1.</summary>
    public static long PowInt(long b, long e)
    {
        if (e < 0) return b == 1 ? 1 : b == -1 ? ((e & 1) == 0 ? 1 : -1) : 0;
        long result = 1;
        unchecked
        {
            while (e > 0)
            {
                if ((e & 1) != 0) result *= b;
                b *= b;
                e >>= 1;
            }
        }
        return result;
    }

    /// <summary>|a| wrapping: the absolute value of long.MinValue is long.MinValue.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Abs(long a) => a < 0 ? unchecked(-a) : a;

    /// <summary>Truncating signed division; x/0 = 0 and x/-1 wraps (no trap).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Div(long a, long b) => b == 0 ? 0 : b == -1 ? unchecked(-a) : a / b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long DivU(long a, long b) => b == 0 ? 0 : (long)((ulong)a / (ulong)b);

    /// <summary>Floor modulo (the sign of the divisor); x mod 0 = 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Mod(long a, long b)
    {
        if (b == 0 || b == -1) return 0;
        long r = a % b;
        return r != 0 && (r < 0) != (b < 0) ? r + b : r;
    }

    /// <summary>Truncated remainder (the sign of the dividend); x fmod 0 = 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long FMod(long a, long b) => b == 0 || b == -1 ? 0 : a % b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long ModU(long a, long b) => b == 0 ? 0 : (long)((ulong)a % (ulong)b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long MinU(long a, long b) => (ulong)a <= (ulong)b ? a : b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long MaxU(long a, long b) => (ulong)a >= (ulong)b ? a : b;

    /// <summary>Shifts by counts of 64 or more (unsigned) give 0, or the sign for arithmetic right shifts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Shl(long a, long b) => (ulong)b >= 64 ? 0 : a << (int)b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long ShrU(long a, long b) => (ulong)b >= 64 ? 0 : (long)((ulong)a >> (int)b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long ShrS(long a, long b) => (ulong)b >= 64 ? (a < 0 ? -1 : 0) : a >> (int)b;

    /// <summary>Float to integer: truncation toward zero; NaN gives 0 and out-of-range values saturate (unsigned: into the uint64 range).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long FloatToLong(double x, bool unsigned) =>
        unsigned && x >= 9223372036854775808.0 ? unchecked((long)(ulong)Math.Min(x, 18446744073709549568.0)) : (long)x;

    public static float ToBFloat16Float(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    public static ushort FromFloatToBFloat16(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return (ushort)((bits >> 16) | 0x40);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }
}
