using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// The windows of a pooling operator over one spatial plane, listed once and reused for every
/// (batch, channel) plane: for each output element, the in-plane offsets of the taps that land
/// inside the input, and how many taps land inside the padded input (the divisor of AveragePool
/// with count_include_pad).
/// </summary>
public sealed class PoolWindows
{
    private readonly int[] _start;
    private readonly int[] _offsets;

    /// <summary>Taps of output element o that lie inside the input or its pads (not beyond the end pads in ceil mode).</summary>
    public int[] PaddedCount { get; }

    public int Outputs => _start.Length - 1;

    /// <summary>The in-plane (row-major) offsets of the input elements output element o reads.</summary>
    public ReadOnlySpan<int> Taps(int o) => _offsets.AsSpan(_start[o], _start[o + 1] - _start[o]);

    public PoolWindows(WindowGeometry g, long[] padEnd)
    {
        int k = g.SpatialRank;
        int outputs = checked((int)g.OutputPlane);
        if (g.OutputPlane * g.KernelSize > TensorData.MaxElements)
            throw new KilnException(ErrorCode.TooLarge, $"a pooling window of {g.KernelSize} taps over {g.OutputPlane} outputs is too large");
        _start = new int[outputs + 1];
        PaddedCount = new int[outputs];
        var offsets = new List<int>();
        var inStrides = Broadcasting.Strides(g.Input);
        var outCoord = new long[k];
        var tap = new long[k];
        for (int o = 0; o < outputs; o++)
        {
            int padded = 1;
            for (int a = 0; a < k; a++)
            {
                int inPadded = 0;
                for (long j = 0; j < g.Kernel[a]; j++)
                {
                    long i = g.InputCoordinate(a, outCoord[a], j);
                    if (i >= -g.PadBegin[a] && i < g.Input[a] + padEnd[a]) inPadded++;
                }
                padded *= inPadded;
            }
            PaddedCount[o] = padded;

            Array.Clear(tap);
            do
            {
                long offset = 0;
                for (int a = 0; a < k && offset >= 0; a++)
                {
                    long i = g.InputCoordinate(a, outCoord[a], tap[a]);
                    offset = i < 0 || i >= g.Input[a] ? -1 : offset + i * inStrides[a];
                }
                if (offset >= 0) offsets.Add((int)offset);
            } while (Increment(tap, g.Kernel));
            _start[o + 1] = offsets.Count;
            Increment(outCoord, g.Output);
        }
        _offsets = offsets.ToArray();
    }

    /// <summary>Advances a row-major coordinate; false after the last one (wrapping to zeros).</summary>
    private static bool Increment(long[] coord, long[] sizes)
    {
        for (int a = coord.Length - 1; a >= 0; a--)
        {
            if (++coord[a] < sizes[a]) return true;
            coord[a] = 0;
        }
        return false;
    }
}
