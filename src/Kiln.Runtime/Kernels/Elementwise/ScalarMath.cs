namespace Kiln.Runtime.Kernels.Elementwise;

/// <summary>Scalar functions the base library lacks (erf), written from their mathematical definitions.</summary>
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

    public static float ToBFloat16Float(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    public static ushort FromFloatToBFloat16(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return (ushort)((bits >> 16) | 0x40);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }
}
