namespace Kiln.Runtime.Kernels;

/// <summary>
/// A tensor seen as lanes along one axis: [Outer, Length, Inner] in row-major order, so element k
/// of lane (o, i) is at (o · Length + k) · Inner + i.
/// </summary>
internal readonly record struct AxisLanes(long Outer, long Length, long Inner)
{
    public long Count => Outer * Length * Inner;
    public long LaneCount => Outer * Inner;

    /// <summary>The lanes of a tensor with the given (checked) dims along <paramref name="axis"/>.</summary>
    public static AxisLanes Of(ReadOnlySpan<long> dims, int axis, string kernel)
    {
        // Each part is checked on its own: an empty axis must not hide an overflowing neighbour.
        long outer = DispatchChecks.Product(dims[..axis], kernel, "tensor size");
        long inner = DispatchChecks.Product(dims[(axis + 1)..], kernel, "tensor size");
        long length = DispatchChecks.Size(dims[axis], kernel, "axis size");
        DispatchChecks.Multiply(DispatchChecks.Multiply(outer, length, kernel, "tensor size"), inner, kernel, "tensor size");
        DispatchChecks.Multiply(outer, inner, kernel, "tensor size");
        return new AxisLanes(outer, length, inner);
    }
}

/// <summary>
/// How a kernel that walks lanes splits its work: a unit is one whole lane when the axis is
/// innermost (lanes are contiguous), otherwise a tile of up to <see cref="Tile"/> neighbouring
/// lanes that advance row by row together; a workgroup takes consecutive units reading about
/// the given number of elements.
/// </summary>
internal readonly record struct LaneWork(AxisLanes Lanes, int Tile, long Units, long TilesPerRow, long PerWorkgroup)
{
    public static LaneWork Of(AxisLanes lanes, int tile, long chunkWork)
    {
        long tilesPerRow = lanes.Inner == 1 ? 1 : (lanes.Inner + tile - 1) / tile;
        long work = Math.Max(1, lanes.Length * Math.Min(lanes.Inner, tile));
        return new LaneWork(lanes, tile, lanes.Outer * tilesPerRow, tilesPerRow, Math.Max(1, chunkWork / work));
    }

    public bool ContiguousLanes => Lanes.Inner == 1;

    public int Workgroups => Lanes.Count == 0 ? 0 : (int)Math.Min(int.MaxValue, (Units + PerWorkgroup - 1) / PerWorkgroup);

    /// <summary>The units [first, last) of a workgroup.</summary>
    public (long First, long Last) UnitsOf(int workgroup)
    {
        long first = workgroup * PerWorkgroup;
        return (first, Math.Min(Units, first + PerWorkgroup));
    }

    /// <summary>A unit of neighbouring lanes: its outer index, its first lane within the inner extent, and how many lanes.</summary>
    public (long Outer, long First, int Count) TileOf(long unit)
    {
        long outer = unit / TilesPerRow, first = unit % TilesPerRow * Tile;
        return (outer, first, (int)Math.Min(Tile, Lanes.Inner - first));
    }
}
