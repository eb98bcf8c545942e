namespace Kiln.Ops;

/// <summary>
/// A <see cref="WindowGeometry"/> cut into rows along the last spatial axis, the unit the
/// convolution loops work on: for every output row (the output coordinates of all axes but the
/// last) and every outer kernel tap (the taps of all axes but the last), the input row it reads;
/// and for every tap along the last axis, the range of output columns that tap reads inside the
/// input. Inner loops then run over contiguous runs of a row.
/// </summary>
public sealed class WindowRows
{
    /// <summary>Input row read by (output row r, outer tap q) at [r * OuterTaps + q], or -1 when it is padding.</summary>
    public int[] InputRow { get; }
    public int OutputRows { get; }
    public int OuterTaps { get; }
    public int RowTaps { get; }
    public int InputRowLength { get; }
    public int OutputRowLength { get; }
    public int Stride { get; }

    /// <summary>For tap j of the last axis: output columns [Start, End) read input column o * Stride + Offset.</summary>
    public (int Start, int End, int Offset)[] Taps { get; }

    public WindowRows(WindowGeometry g)
    {
        int k = g.SpatialRank, last = k - 1;
        OutputRows = checked((int)WindowGeometry.Product(g.Output.AsSpan(0, last)));
        OuterTaps = checked((int)WindowGeometry.Product(g.Kernel.AsSpan(0, last)));
        RowTaps = (int)g.Kernel[last];
        InputRowLength = (int)g.Input[last];
        OutputRowLength = (int)g.Output[last];
        Stride = (int)g.Strides[last];
        Taps = new (int, int, int)[RowTaps];
        for (int j = 0; j < RowTaps; j++)
        {
            var (start, end) = g.ValidOutputRange(last, j);
            Taps[j] = ((int)start, (int)end, (int)(j * g.Dilations[last] - g.PadBegin[last]));
        }

        InputRow = new int[OutputRows * OuterTaps];
        var outCoord = new long[last];
        for (int r = 0; r < OutputRows; r++)
        {
            var tap = new long[last];
            for (int q = 0; q < OuterTaps; q++)
            {
                long row = 0;
                for (int a = 0; a < last && row >= 0; a++)
                {
                    long i = g.InputCoordinate(a, outCoord[a], tap[a]);
                    row = i < 0 || i >= g.Input[a] ? -1 : row * g.Input[a] + i;
                }
                InputRow[r * OuterTaps + q] = (int)row;
                Increment(tap, g.Kernel);
            }
            Increment(outCoord, g.Output);
        }
    }

    /// <summary>Advances a row-major coordinate over the leading sizes (an odometer).</summary>
    private static void Increment(long[] coord, long[] sizes)
    {
        for (int a = coord.Length - 1; a >= 0; a--)
        {
            if (++coord[a] < sizes[a]) return;
            coord[a] = 0;
        }
    }
}
