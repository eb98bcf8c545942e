namespace Kiln.Runtime.Kernels.Signal;

/// <summary>
/// The forward discrete Fourier transform of one length n, X[k] = Σₜ x[t]·e^(−2πi·kt/n), in
/// double, over tables kept in caller-owned scratch (so kernels hold no state). Power-of-two
/// lengths use an iterative radix-2 transform; any other length uses Bluestein's chirp
/// convolution, evaluated with a radix-2 transform of a power-of-two length m ≥ 2n − 1. Every
/// twiddle is one sin/cos of an angle reduced with integer arithmetic, so errors stay at a few
/// ulps. Not thread-safe: each worker builds its own over its own scratch.
/// </summary>
internal readonly unsafe struct FourierTransform
{
    /// <summary>The longest transform the kernels accept: a Bluestein transform then needs about 180 MB of scratch per worker.</summary>
    public const long MaxLength = 1L << 20;

    private readonly int _n, _m;
    private readonly double* _cos, _sin;          // radix-2 twiddles e^(−2πi·j/m), j < m/2
    private readonly double* _chirpRe, _chirpIm;  // Bluestein only: c[t] = e^(−πi·t²/n)
    private readonly double* _filterRe, _filterIm; // Bluestein only: the transform of conj(c) wrapped around m
    private readonly double* _workRe, _workIm;    // Bluestein only: the padded line

    /// <summary>Builds the tables for length <paramref name="n"/> in <paramref name="scratch"/>, which holds <see cref="ScratchDoubles"/>(n) doubles.</summary>
    public FourierTransform(int n, double* scratch)
    {
        _n = n;
        _m = Radix2Length(n);
        _cos = scratch;
        _sin = scratch + _m / 2;
        for (int j = 0; j < _m / 2; j++)
        {
            double angle = 2 * Math.PI * j / _m;
            (_sin[j], _cos[j]) = Math.SinCos(angle);
            _sin[j] = -_sin[j];
        }
        if (_m == n) return;

        double* p = scratch + _m;
        _chirpRe = p; _chirpIm = p + n;
        _filterRe = p + 2 * n; _filterIm = _filterRe + _m;
        _workRe = _filterIm + _m; _workIm = _workRe + _m;
        for (long t = 0; t < n; t++)
        {
            // t²/(2n) of a turn: reduce t² modulo 2n first, exactly.
            double angle = Math.PI * (t * t % (2L * n)) / n;
            (_chirpIm[t], _chirpRe[t]) = Math.SinCos(angle);
            _chirpIm[t] = -_chirpIm[t];
        }
        new Span<double>(_filterRe, 2 * _m).Clear();
        for (int j = 0; j < n; j++)
        {
            _filterRe[j] = _chirpRe[j];
            _filterIm[j] = -_chirpIm[j];
            if (j > 0)
            {
                _filterRe[_m - j] = _chirpRe[j];
                _filterIm[_m - j] = -_chirpIm[j];
            }
        }
        Radix2(_filterRe, _filterIm);
    }

    /// <summary>The power-of-two length the radix-2 transform runs at: n itself, or Bluestein's m ≥ 2n − 1.</summary>
    private static int Radix2Length(int n)
    {
        if ((n & (n - 1)) == 0) return n;
        int m = 1;
        while (m < 2 * n - 1) m <<= 1;
        return m;
    }

    /// <summary>The scratch a transform of length n needs for its tables, in doubles.</summary>
    public static long ScratchDoubles(int n)
    {
        int m = Radix2Length(n);
        return m == n ? m : m + 2L * n + 4L * m;
    }

    /// <summary>Replaces the n values (re, im) by their forward transform.</summary>
    public void Forward(double* re, double* im)
    {
        if (_m == _n) { Radix2(re, im); return; }
        // a[t] = x[t]·c[t], zero-padded; X[k] = c[k] · (a ⊛ conj(c))[k], the circular convolution
        // done as a product of spectra and an inverse transform (a conjugated forward one, over m).
        new Span<double>(_workRe, 2 * _m).Clear();
        for (int t = 0; t < _n; t++)
        {
            _workRe[t] = re[t] * _chirpRe[t] - im[t] * _chirpIm[t];
            _workIm[t] = re[t] * _chirpIm[t] + im[t] * _chirpRe[t];
        }
        Radix2(_workRe, _workIm);
        for (int j = 0; j < _m; j++)
        {
            double r = _workRe[j] * _filterRe[j] - _workIm[j] * _filterIm[j];
            double i = _workRe[j] * _filterIm[j] + _workIm[j] * _filterRe[j];
            _workRe[j] = r;
            _workIm[j] = -i;
        }
        Radix2(_workRe, _workIm);
        double scale = 1.0 / _m;
        for (int k = 0; k < _n; k++)
        {
            double cr = _workRe[k] * scale, ci = -_workIm[k] * scale;
            re[k] = cr * _chirpRe[k] - ci * _chirpIm[k];
            im[k] = cr * _chirpIm[k] + ci * _chirpRe[k];
        }
    }

    /// <summary>In-place radix-2 decimation in time over m values: bit-reversed order, then log₂ m butterfly passes.</summary>
    private void Radix2(double* re, double* im)
    {
        int m = _m;
        for (int i = 1, j = 0; i < m; i++)
        {
            int bit = m >> 1;
            while ((j & bit) != 0) { j ^= bit; bit >>= 1; }
            j |= bit;
            if (i < j)
            {
                (re[i], re[j]) = (re[j], re[i]);
                (im[i], im[j]) = (im[j], im[i]);
            }
        }
        for (int span = 1; span < m; span <<= 1)
        {
            int step = m / (2 * span);
            for (int block = 0; block < m; block += 2 * span)
                for (int k = 0; k < span; k++)
                {
                    int top = block + k, bottom = top + span;
                    double wr = _cos[k * step], wi = _sin[k * step];
                    double br = re[bottom] * wr - im[bottom] * wi, bi = re[bottom] * wi + im[bottom] * wr;
                    re[bottom] = re[top] - br;
                    im[bottom] = im[top] - bi;
                    re[top] += br;
                    im[top] += bi;
                }
        }
    }
}
