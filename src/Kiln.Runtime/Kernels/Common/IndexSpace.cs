using System.Runtime.CompilerServices;

namespace Kiln.Runtime.Kernels;

/// <summary>Up to eight sizes or strides, inline (no allocation per dispatch).</summary>
[InlineArray(8)]
internal struct Dims8
{
    private long _element;
}

/// <summary>A row-major index space of up to eight blocks, each with a size and an element stride in the input.</summary>
internal struct Blocks
{
    public Dims8 Sizes, Strides;
    public int Count;

    public void Add(long size, long stride)
    {
        Sizes[Count] = size;
        Strides[Count] = stride;
        Count++;
    }

    public readonly long Product
    {
        get
        {
            long p = 1;
            for (int i = 0; i < Count; i++) p *= Sizes[i];
            return p;
        }
    }

    /// <summary>The input offset of the position with this row-major linear index.</summary>
    public readonly long Offset(long linear)
    {
        long offset = 0;
        for (int i = Count - 1; i >= 0; i--)
        {
            offset += linear % Sizes[i] * Strides[i];
            linear /= Sizes[i];
        }
        return offset;
    }
}

/// <summary>Walks a <see cref="Blocks"/> space in row-major order, keeping the input offset current.</summary>
internal struct Odometer
{
    private Dims8 _index;
    public long Offset;

    public static Odometer At(in Blocks b, long linear)
    {
        var o = new Odometer();
        for (int i = b.Count - 1; i >= 0; i--)
        {
            o._index[i] = linear % b.Sizes[i];
            o.Offset += o._index[i] * b.Strides[i];
            linear /= b.Sizes[i];
        }
        return o;
    }

    public void Advance(in Blocks b)
    {
        for (int i = b.Count - 1; i >= 0; i--)
        {
            Offset += b.Strides[i];
            if (++_index[i] < b.Sizes[i]) return;
            Offset -= b.Strides[i] * _index[i];
            _index[i] = 0;
        }
    }
}
