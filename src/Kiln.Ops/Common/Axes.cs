using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>Axis arguments: negative axes count from the end; out-of-range axes are errors naming the node.</summary>
public static class Axes
{
    public static int Normalize(long axis, int rank, Operation op, string what = "axis")
    {
        if (axis < -rank || axis >= rank)
            throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: {what} {axis} is out of range for rank {rank}");
        return (int)(axis < 0 ? axis + rank : axis);
    }

    public static int[] Normalize(IEnumerable<long> axes, int rank, Operation op, string what = "axes")
    {
        var result = axes.Select(a => Normalize(a, rank, op, what)).ToArray();
        if (result.Distinct().Count() != result.Length)
            throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: {what} [{string.Join(", ", axes)}] repeat an axis");
        return result;
    }
}
