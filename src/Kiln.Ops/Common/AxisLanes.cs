using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>A transform of one lane (the elements along one axis), in the accumulator type.</summary>
public interface ILaneTransform
{
    void Apply<TAcc>(Span<TAcc> lane) where TAcc : unmanaged, INumber<TAcc>;
}

/// <summary>
/// A row-major tensor seen as lanes along one axis: shape [outer, length, inner], where lane
/// (o, i) holds the elements o·length·inner + k·inner + i for k in [0, length).
/// Softmax, Hardmax, cumulative sums and Lp normalization are all transforms of lanes.
/// </summary>
public readonly record struct AxisLanes(long Outer, long Length, long Inner)
{
    public static AxisLanes Of(long[] shape, int axis)
    {
        long outer = 1, inner = 1;
        for (int d = 0; d < axis; d++) outer *= shape[d];
        for (int d = axis + 1; d < shape.Length; d++) inner *= shape[d];
        return new AxisLanes(outer, shape[axis], inner);
    }

    public long Count => Outer * Inner;

    /// <summary>The offset of the first element of a lane; its elements are <see cref="Inner"/> apart.</summary>
    public long Start(long lane) => lane / Inner * Length * Inner + lane % Inner;

    /// <summary>
    /// Applies <paramref name="transform"/> to every lane of <paramref name="x"/> along <paramref name="axis"/>
    /// into a new tensor of x's type and shape, computing in the accumulator type (see <see cref="Accumulation"/>).
    /// </summary>
    public static TensorData Map<TTransform>(TensorData x, int axis, TTransform transform) where TTransform : ILaneTransform =>
        Accumulation.Widened(x, w => Accumulation.Dispatch<MapVisitor<TTransform>, TensorData>(w.ElementType, new(w, axis, transform)));

    private readonly struct MapVisitor<TTransform>(TensorData x, int axis, TTransform transform) : IAccumulatingVisitor<TensorData>
        where TTransform : ILaneTransform
    {
        public TensorData Visit<T, TAcc>() where T : unmanaged, INumber<T> where TAcc : unmanaged, INumber<TAcc>
        {
            var lanes = Of(x.Shape, axis);
            var result = TensorData.Zeros(x.ElementType, x.Shape);
            var src = x.Data<T>();
            var dst = result.Data<T>();
            var lane = new TAcc[lanes.Length];
            for (long l = 0; l < lanes.Count; l++)
            {
                long start = lanes.Start(l);
                for (long k = 0; k < lane.Length; k++) lane[k] = TAcc.CreateTruncating(src[start + k * lanes.Inner]);
                transform.Apply<TAcc>(lane);
                for (long k = 0; k < lane.Length; k++) dst[start + k * lanes.Inner] = T.CreateTruncating(lane[k]);
            }
            return result;
        }
    }
}
