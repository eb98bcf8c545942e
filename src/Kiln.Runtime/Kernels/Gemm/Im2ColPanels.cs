using System.Runtime.CompilerServices;

namespace Kiln.Runtime.Kernels.Gemm;

/// <summary>
/// The B operand of a convolution as a GEMM, packed straight from the input (implicit im2col):
/// B[k, p] with depth k = (channel, kd, kh, kw) and column p = output pixel (od, oh, ow) is
/// x[channel, od·sd − pd + kd·dd, oh·sh − ph + kh·dh, ow·sw − pw + kw·dw], or 0 in the padding.
/// A panel's 16 pixels are cut into runs along the output row, so with unit stride each run is one
/// contiguous copy from an input row. <paramref name="x"/> points at the group's first channel.
/// </summary>
public readonly unsafe struct Im2ColPanels(float* x, ConvGeometry g) : IPanelSource
{
    private const int NR = PanelLayout.Columns;

    public bool PacksAtRunTime => true;

    public float* Panels(long start, int count, int k0, int kc, float* buffer, out long panelStride)
    {
        panelStride = (long)kc * NR;
        for (int j = 0; j < count; j += NR)
            PackPanel(start + j, Math.Min(NR, count - j), k0, kc, buffer + j / NR * panelStride);
        return buffer;
    }

    /// <summary>A run of output pixels along one output row: where it starts and where it goes in the panel.</summary>
    private struct Run
    {
        public int OutD, OutH, OutW, Length, Lane;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void PackPanel(long pixel, int lanes, int k0, int kc, float* panel)
    {
        Span<Run> runs = stackalloc Run[NR];
        int runCount = 0;
        long rowPixels = g.OutW, slicePixels = (long)g.OutH * g.OutW;
        for (int lane = 0; lane < lanes;)
        {
            long p = pixel + lane;
            var run = new Run { OutD = (int)(p / slicePixels), OutH = (int)(p % slicePixels / rowPixels), OutW = (int)(p % rowPixels), Lane = lane };
            run.Length = (int)Math.Min(lanes - lane, rowPixels - run.OutW);
            runs[runCount++] = run;
            lane += run.Length;
        }
        runs = runs[..runCount];

        // Depth index k0 as (channel, kd, kh, kw), then stepped.
        int taps = g.KD * g.KH * g.KW;
        int channel = k0 / taps, tap = k0 % taps;
        int kd = tap / (g.KH * g.KW), kh = tap / g.KW % g.KH, kw = tap % g.KW;
        long plane = g.InputPlane;
        for (int k = 0; k < kc; k++)
        {
            float* dst = panel + k * NR;
            float* xc = x + channel * plane;
            foreach (ref readonly var run in runs)
            {
                float* o = dst + run.Lane;
                int id = run.OutD * g.SD - g.PadD + kd * g.DD;
                int ih = run.OutH * g.SH - g.PadH + kh * g.DH;
                if ((uint)id >= (uint)g.InD || (uint)ih >= (uint)g.InH)
                {
                    new Span<float>(o, run.Length).Clear();
                    continue;
                }
                float* row = xc + ((long)id * g.InH + ih) * g.InW;
                int iw = run.OutW * g.SW - g.PadW + kw * g.DW;
                if (g.SW == 1 && iw >= 0 && iw + run.Length <= g.InW)
                    new ReadOnlySpan<float>(row + iw, run.Length).CopyTo(new Span<float>(o, run.Length));
                else
                    for (int t = 0; t < run.Length; t++, iw += g.SW) o[t] = (uint)iw < (uint)g.InW ? row[iw] : 0f;
            }
            if (lanes < NR) new Span<float>(dst + lanes, NR - lanes).Clear();
            if (++kw == g.KW)
            {
                kw = 0;
                if (++kh == g.KH)
                {
                    kh = 0;
                    if (++kd == g.KD) { kd = 0; channel++; }
                }
            }
        }
    }
}
