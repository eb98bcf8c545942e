using System.Runtime.CompilerServices;
using Kiln.Runtime.Format;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Vm;

/// <summary>
/// The "seq" native module: ONNX sequences (<see cref="TensorSequence"/>) for host programs. A
/// sequence lives in an object register; every operation returns a new sequence. Concat and split
/// make tensors in new buffers and record their copies in the invocation's command buffer, so they
/// are ordered with the dispatches around them. (V = value arguments, R = object arguments.)
/// </summary>
internal static unsafe class SequenceModule
{
    public static NativeModule Create() => new("seq",
    [
        // empty(V dtype) -> R sequence
        new("empty", 1, 0, 0, 1, ImportFlags.None, new NativeFunction(Empty)),
        // length(R sequence) -> V count
        new("length", 0, 1, 1, 0, ImportFlags.None, new NativeFunction(Length)),
        // at(R sequence; V position) -> R view: position in [-n, n-1]
        new("at", 1, 1, 0, 1, ImportFlags.None, new NativeFunction(At)),
        // insert(R sequence, R view; V position) -> R sequence: position in [-n, n]
        new("insert", 1, 2, 0, 1, ImportFlags.None, new NativeFunction(Insert)),
        // erase(R sequence; V position) -> R sequence: position in [-n, n-1]
        new("erase", 1, 1, 0, 1, ImportFlags.None, new NativeFunction(Erase)),
        // concat(R sequence; V axis, V newAxis) -> R view in a new buffer
        new("concat", 2, 1, 0, 1, ImportFlags.None, new NativeFunction(Concat)),
        // split(R view, R sizes or null; V axis, V keepdims) -> R sequence of tensors in new buffers
        new("split", 2, 2, 0, 1, ImportFlags.None, new NativeFunction(Split)),
    ]);

    private static void Empty(ref NativeCall c)
    {
        long code = c.Values[0];
        if (code is <= 0 or > 255 || !DTypes.IsValid((int)code)) throw new KilnRuntimeException(StatusCode.InvalidArgument, $"seq.empty: unknown dtype {code}");
        c.RefResults[0] = new TensorSequence((DType)code, []);
    }

    private static void Length(ref NativeCall c) => c.ValueResults[0] = c.Ref<TensorSequence>(0, "seq.length").Count;

    private static void At(ref NativeCall c)
    {
        var s = c.Ref<TensorSequence>(0, "seq.at");
        c.RefResults[0] = s[s.Position(c.Values[0], end: false, "seq.at")];
    }

    private static void Insert(ref NativeCall c)
    {
        var s = c.Ref<TensorSequence>(0, "seq.insert");
        var t = c.Ref<BufferView>(1, "seq.insert");
        c.RefResults[0] = s.Insert(s.Position(c.Values[0], end: true, "seq.insert"), t);
    }

    private static void Erase(ref NativeCall c)
    {
        var s = c.Ref<TensorSequence>(0, "seq.erase");
        c.RefResults[0] = s.Erase(s.Position(c.Values[0], end: false, "seq.erase"));
    }

    private static void Concat(ref NativeCall c)
    {
        var s = c.Ref<TensorSequence>(0, "seq.concat");
        bool newAxis = c.Values[1] != 0;
        if (s.Count == 0) throw new KilnRuntimeException(StatusCode.InvalidArgument, "seq.concat: the sequence is empty");
        var first = s[0];
        int rank = first.Rank;
        int axis = Axis(c.Values[0], newAxis ? rank + 1 : rank, "seq.concat");
        long total = 0;
        foreach (var t in s.Items)
        {
            if (t.Rank != rank) throw new KilnRuntimeException(StatusCode.InvalidArgument, $"seq.concat: tensors {first} and {t} differ in rank");
            for (int d = 0; d < rank; d++)
                if (t.Shape[d] != first.Shape[d] && (newAxis || d != axis))
                    throw new KilnRuntimeException(StatusCode.InvalidArgument, $"seq.concat: tensors {first} and {t} differ in dimension {d}");
            total += newAxis ? 1 : t.Shape[axis];
        }
        var shape = first.Shape.ToArray().ToList();
        if (newAxis) shape.Insert(axis, total);
        else shape[axis] = total;
        long outer = Product(shape.Take(axis)), inner = Product(shape.Skip(axis + 1)) * first.DType.Size();
        var result = NewView(ref c, first.DType, shape.ToArray(), "seq.concat");
        long row = total * inner, at = 0;
        foreach (var t in s.Items)
        {
            long chunk = (newAxis ? 1 : t.Shape[axis]) * inner;
            for (long o = 0; o < outer && chunk > 0; o++)
                c.Invocation.Commands.Copy(t.Buffer.Pointer + t.Offset + o * chunk, result.Buffer.Pointer + o * row + at, chunk);
            at += chunk;
        }
        c.RefResults[0] = result;
    }

    private static void Split(ref NativeCall c)
    {
        var x = c.Ref<BufferView>(0, "seq.split");
        if (x.Rank == 0) throw new KilnRuntimeException(StatusCode.InvalidArgument, "seq.split: a scalar cannot be split");
        int axis = Axis(c.Values[0], x.Rank, "seq.split");
        long length = x.Shape[axis];
        bool keepDims = c.Values[1] != 0;
        long[] sizes;
        if (c.Refs[1] is null) sizes = Enumerable.Repeat(1L, checked((int)length)).ToArray();
        else
        {
            keepDims = true;
            sizes = ReadSizes(ref c, c.Ref<BufferView>(1, "seq.split"), length);
        }
        var shape = x.Shape.ToArray();
        long outer = Product(shape.Take(axis)), inner = Product(shape.Skip(axis + 1)) * x.DType.Size();
        var items = new List<BufferView>(sizes.Length);
        long start = 0;
        foreach (long size in sizes)
        {
            var part = (long[])shape.Clone();
            part[axis] = size;
            var piece = NewView(ref c, x.DType, part, "seq.split");
            long chunk = size * inner;
            for (long o = 0; o < outer && chunk > 0; o++)
                c.Invocation.Commands.Copy(x.Buffer.Pointer + x.Offset + o * length * inner + start * inner, piece.Buffer.Pointer + o * chunk, chunk);
            start += size;
            items.Add(keepDims ? piece : new BufferView(piece.Buffer, 0, x.DType, part.Where((_, d) => d != axis).ToArray()));
        }
        c.RefResults[0] = new TensorSequence(x.DType, items);
    }

    /// <summary>Split sizes from a tensor the program computed (read after its pending work): a scalar piece length, or one size per piece summing to the axis.</summary>
    private static long[] ReadSizes(ref NativeCall c, BufferView split, long length)
    {
        if (split.DType is not (DType.Int64 or DType.Int32) || split.Rank > 1)
            throw new KilnRuntimeException(StatusCode.InvalidArgument, $"seq.split: the split must be an int32 or int64 scalar or vector, got {split}");
        c.Invocation.Flush();
        var values = new long[split.ElementCount];
        for (int i = 0; i < values.Length; i++)
        {
            byte* p = split.Buffer.Pointer + split.Offset + i * split.DType.Size();
            values[i] = split.DType == DType.Int64 ? Unsafe.ReadUnaligned<long>(p) : Unsafe.ReadUnaligned<int>(p);
        }
        if (split.Rank == 0)
        {
            long step = values[0];
            if (step <= 0) throw new KilnRuntimeException(StatusCode.InvalidArgument, $"seq.split: split length {step} must be positive");
            long count = length == 0 ? 0 : (length + step - 1) / step;
            return Enumerable.Range(0, checked((int)count)).Select(i => Math.Min(step, length - i * step)).ToArray();
        }
        long sum = 0;
        foreach (long v in values)
        {
            if (v < 0) throw new KilnRuntimeException(StatusCode.InvalidArgument, $"seq.split: negative split size {v}");
            sum += v;
        }
        if (sum != length) throw new KilnRuntimeException(StatusCode.InvalidArgument, $"seq.split: split sizes sum to {sum}, the axis has {length}");
        return values;
    }

    private static BufferView NewView(ref NativeCall c, DType dtype, long[] shape, string what)
    {
        long bytes = BufferView.CheckedCount(shape) * dtype.Size();
        c.Invocation.CheckAllocation(bytes, what);
        return new BufferView(DeviceBuffer.AllocateManaged(bytes), 0, dtype, shape);
    }

    private static int Axis(long axis, int rank, string what)
    {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new KilnRuntimeException(StatusCode.InvalidArgument, $"{what}: axis {axis} is outside rank {rank}");
        return (int)a;
    }

    private static long Product(IEnumerable<long> dims)
    {
        long n = 1;
        foreach (long d in dims) n = checked(n * d);
        return n;
    }
}
