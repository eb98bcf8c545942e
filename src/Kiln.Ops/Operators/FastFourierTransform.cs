namespace Kiln.Ops.Operators;

/// <summary>
/// The discrete Fourier transform of one length n, X[k] = Σₜ x[t]·e^(∓2πi·kt/n) (divided by n
/// for the inverse), computed in O(n log n) so that spectrogram front ends of real models run
/// in time: radix-2 Cooley–Tukey when n is a power of two, otherwise Bluestein's algorithm, which
/// rewrites the transform as a circular convolution done with power-of-two transforms. Angles
/// are reduced to [0, 2π) with integer arithmetic first, so every twiddle factor is as exact as
/// one sin/cos. Holds scratch buffers: one instance per thread.
/// </summary>
internal sealed class FastFourierTransform
{
    private readonly int _n;
    private readonly bool _inverse;
    private readonly double[] _re, _im;
    private readonly Radix2? _direct;
    private readonly Bluestein? _bluestein;

    public FastFourierTransform(long n, bool inverse)
    {
        if (n < 1 || n > int.MaxValue / 4) throw new ArgumentOutOfRangeException(nameof(n), $"transform length {n} is out of range");
        _n = (int)n;
        _inverse = inverse;
        _re = new double[n];
        _im = new double[n];
        if ((n & (n - 1)) == 0) _direct = new Radix2(_n);
        else _bluestein = new Bluestein(_n);
    }

    /// <summary>
    /// Transforms the complex line (re, im) of length n and writes its first outRe.Length
    /// frequencies (samples, for the inverse).
    /// </summary>
    public void Run(ReadOnlySpan<double> re, ReadOnlySpan<double> im, Span<double> outRe, Span<double> outIm)
    {
        re.CopyTo(_re);
        im.CopyTo(_im);
        // The inverse is the conjugate of the forward transform of the conjugate, over n.
        if (_inverse) Negate(_im);
        if (_direct is not null) _direct.Forward(_re, _im);
        else _bluestein!.Forward(_re, _im);
        double norm = _inverse ? 1.0 / _n : 1;
        for (int k = 0; k < outRe.Length; k++)
        {
            outRe[k] = _re[k] * norm;
            outIm[k] = (_inverse ? -_im[k] : _im[k]) * norm;
        }
    }

    private static void Negate(Span<double> values)
    {
        foreach (ref double v in values) v = -v;
    }

    /// <summary>e^(-2πi·numerator/denominator) as (cos, sin), with the angle reduced exactly first.</summary>
    private static (double Re, double Im) Twiddle(long numerator, long denominator)
    {
        double angle = 2 * Math.PI * (numerator % denominator) / denominator;
        return (Math.Cos(angle), -Math.Sin(angle));
    }

    /// <summary>In-place iterative radix-2 forward transform of a power-of-two length.</summary>
    private sealed class Radix2
    {
        private readonly int _m;
        private readonly double[] _cos, _sin;

        public Radix2(int m)
        {
            _m = m;
            _cos = new double[m / 2];
            _sin = new double[m / 2];
            for (int j = 0; j < m / 2; j++) (_cos[j], _sin[j]) = Twiddle(j, m);
        }

        public void Forward(Span<double> re, Span<double> im)
        {
            // Bit-reversed order, so each pass combines adjacent blocks.
            for (int i = 1, j = 0; i < _m; i++)
            {
                int bit = _m >> 1;
                for (; (j & bit) != 0; bit >>= 1) j ^= bit;
                j ^= bit;
                if (i < j)
                {
                    (re[i], re[j]) = (re[j], re[i]);
                    (im[i], im[j]) = (im[j], im[i]);
                }
            }
            for (int length = 2; length <= _m; length <<= 1)
            {
                int half = length / 2, stride = _m / length;
                for (int start = 0; start < _m; start += length)
                for (int k = 0; k < half; k++)
                {
                    int a = start + k, b = a + half;
                    double wr = _cos[k * stride], wi = _sin[k * stride];
                    double tr = re[b] * wr - im[b] * wi, ti = re[b] * wi + im[b] * wr;
                    (re[b], im[b]) = (re[a] - tr, im[a] - ti);
                    (re[a], im[a]) = (re[a] + tr, im[a] + ti);
                }
            }
        }
    }

    /// <summary>
    /// Bluestein's forward transform of any length n: with the chirp c[t] = e^(-πi·t²/n),
    /// kt = (k² + t² − (k−t)²)/2 gives X[k] = c[k] · Σₜ (x[t]·c[t]) · conj(c[k−t]), a convolution
    /// evaluated with radix-2 transforms of a power-of-two length m ≥ 2n − 1.
    /// </summary>
    private sealed class Bluestein
    {
        private readonly int _n, _m;
        private readonly double[] _chirpRe, _chirpIm, _kernelRe, _kernelIm, _bufferRe, _bufferIm;
        private readonly Radix2 _fft;

        public Bluestein(int n)
        {
            _n = n;
            _m = 1;
            while (_m < 2 * n - 1) _m <<= 1;
            _fft = new Radix2(_m);
            _chirpRe = new double[n];
            _chirpIm = new double[n];
            // t²/(2n) turns of a full circle: reduce t² modulo 2n before taking the angle.
            for (long t = 0; t < n; t++) (_chirpRe[t], _chirpIm[t]) = Twiddle(t * t % (2L * n), 2L * n);

            // The convolution kernel conj(c[j]) for j in (−n, n), wrapped to [0, m), transformed once.
            _kernelRe = new double[_m];
            _kernelIm = new double[_m];
            for (int j = 0; j < n; j++)
            {
                (_kernelRe[j], _kernelIm[j]) = (_chirpRe[j], -_chirpIm[j]);
                if (j > 0) (_kernelRe[_m - j], _kernelIm[_m - j]) = (_chirpRe[j], -_chirpIm[j]);
            }
            _fft.Forward(_kernelRe, _kernelIm);
            _bufferRe = new double[_m];
            _bufferIm = new double[_m];
        }

        public void Forward(Span<double> re, Span<double> im)
        {
            Array.Clear(_bufferRe);
            Array.Clear(_bufferIm);
            for (int t = 0; t < _n; t++) (_bufferRe[t], _bufferIm[t]) = Multiply(re[t], im[t], _chirpRe[t], _chirpIm[t]);
            _fft.Forward(_bufferRe, _bufferIm);
            // Pointwise product with the kernel, conjugated so that the forward transform below
            // computes the inverse one (its result is conjugated back and divided by m).
            for (int j = 0; j < _m; j++)
            {
                var (pr, pi) = Multiply(_bufferRe[j], _bufferIm[j], _kernelRe[j], _kernelIm[j]);
                (_bufferRe[j], _bufferIm[j]) = (pr, -pi);
            }
            _fft.Forward(_bufferRe, _bufferIm);
            for (int k = 0; k < _n; k++)
                (re[k], im[k]) = Multiply(_bufferRe[k] / _m, -_bufferIm[k] / _m, _chirpRe[k], _chirpIm[k]);
        }

        private static (double Re, double Im) Multiply(double ar, double ai, double br, double bi) => (ar * br - ai * bi, ar * bi + ai * br);
    }
}
