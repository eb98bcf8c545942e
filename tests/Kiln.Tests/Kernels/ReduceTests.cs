using Kiln.Ir;
using static Kiln.Tests.Kernels.KernelOracle;

namespace Kiln.Tests.Kernels;

/// <summary>
/// The "reduce" kernel family against the reference: every Reduce* operator, row reductions
/// (last axis) over every vector tail and across tiles, column reductions (leading or middle
/// axes) across tiles and float blocks, non-adjacent axes, empty tensors, no-op axes, integer
/// exactness and wrapping, NaN and infinities, axes given at run time, and reductions large
/// enough to be split into partial slices.
/// </summary>
public class ReduceTests
{
    public static readonly string[] Operators =
        ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"];

    public static TheoryData<string> AllOperators() => new(Operators);

    private static void Reduce(string op, TensorData x, long[]? axes, bool keepDims = true, bool runtimeAxes = false, bool noop = false, double rtol = 1e-4)
    {
        var o = new KernelOracle();
        var input = o.Input(x);
        Value? axesValue = axes is null ? null : o.Operand(TensorData.Vector(axes), constant: !runtimeAxes);
        IrType[]? declared = null;
        if (runtimeAxes)
        {
            // Run-time axes leave the result's shape to the model's declaration, as ONNX files carry it.
            int rank = x.Rank;
            var reduced = (axes is { Length: > 0 } ? axes.Select(a => (int)(a < 0 ? a + rank : a)) : noop ? [] : Enumerable.Range(0, rank)).ToHashSet();
            var dims = x.Shape.Select((d, i) => reduced.Contains(i) ? (keepDims ? 1L : -1) : d).Where(d => d >= 0).ToArray();
            declared = [new TensorType(x.ElementType, Shape.Of(dims))];
        }
        o.Op(op, axesValue is null ? [input] : [input, axesValue], [Int("keepdims", keepDims ? 1 : 0), Int("noop_with_empty_axes", noop ? 1 : 0)], declared: declared);
        o.Check(rtol);
    }

    [Theory]
    [MemberData(nameof(AllOperators))]
    public void RowsOfEveryLength(string op)
    {
        // Vector tails up to 2 × 32 lanes, tile edges, and several tiles.
        foreach (long n in new long[] { 1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 1023, 1024, 1025, 3001 })
            Reduce(op, Floats((int)n, 3, n), [-1]);
    }

    [Theory]
    [MemberData(nameof(AllOperators))]
    public void ColumnsAcrossTilesAndBlocks(string op)
    {
        Reduce(op, Floats(1, 70, 5), [0]);                 // more rows than a float block
        Reduce(op, Floats(2, 3, 40, 1100), [1], keepDims: false); // columns wider than a tile
        Reduce(op, Floats(3, 2, 3, 4, 5), [0, 2]);          // non-adjacent axes, kept last axis
        Reduce(op, Floats(4, 2, 3, 4, 5), [1, 3]);          // non-adjacent axes, reduced last axis
        Reduce(op, Floats(5, 4, 1, 6, 1), [1, 2]);          // size-1 axes among the reduced ones
    }

    [Theory]
    [MemberData(nameof(AllOperators))]
    public void AllAxesNoAxesAndNoop(string op)
    {
        Reduce(op, Floats(6, 3, 4, 5), null);
        Reduce(op, Floats(7, 3, 4, 5), [], keepDims: false);
        Reduce(op, Floats(8, 3, 4, 5), [], noop: true);
        Reduce(op, Floats(9), null);                        // a scalar
    }

    [Theory]
    [MemberData(nameof(AllOperators))]
    public void EmptyTensors(string op)
    {
        Reduce(op, Floats(10, 2, 0, 3), [1]);               // empty groups give the identity
        Reduce(op, Floats(11, 2, 0, 3), [0]);               // no groups at all
        Reduce(op, Floats(12, 0), null, keepDims: false);
    }

    [Theory]
    [MemberData(nameof(AllOperators))]
    public void AxesGivenAtRunTime(string op)
    {
        Reduce(op, Floats(13, 3, 4, 5), [0, -1], runtimeAxes: true);
        Reduce(op, Floats(14, 3, 4, 5), [1], keepDims: false, runtimeAxes: true);
        Reduce(op, Floats(15, 3, 4, 5), [], runtimeAxes: true);
        Reduce(op, Floats(16, 3, 4, 5), [], runtimeAxes: true, noop: true);
    }

    [Theory]
    [MemberData(nameof(AllOperators))]
    public void LargeReductionsSplitIntoSlices(string op)
    {
        // Few groups over many elements: partial values per slice, then their combination.
        Reduce(op, Floats(17, 300_001), null, keepDims: false, rtol: 1e-3);
        Reduce(op, Floats(18, 2, 200_003), [1], rtol: 1e-3);
        Reduce(op, Floats(19, 150_001, 3), [0], rtol: 1e-3);
    }

    public static TheoryData<string, ElementType> OperatorsAndTypes()
    {
        var data = new TheoryData<string, ElementType>();
        foreach (var op in Operators)
            foreach (var t in new[] { ElementType.Float64, ElementType.Float16, ElementType.BFloat16, ElementType.Int32, ElementType.Int64, ElementType.UInt64, ElementType.Int8, ElementType.UInt8 })
                data.Add(op, t);
        return data;
    }

    [Theory]
    [MemberData(nameof(OperatorsAndTypes))]
    public void OtherElementTypes(string op, ElementType type)
    {
        Reduce(op, Random(20, type, 3, 37), [1], rtol: type is ElementType.Float16 or ElementType.BFloat16 ? 1e-2 : 1e-6);
        Reduce(op, Random(21, type, 33, 4), [0], rtol: type is ElementType.Float16 or ElementType.BFloat16 ? 1e-2 : 1e-6);
        Reduce(op, Random(22, type, 2, 0), [1]);
    }

    [Fact]
    public void IntegerSumsAreExactAndWrap()
    {
        Reduce("ReduceSum", TensorData.Create(ElementType.Int32, [2, 2], new[] { int.MaxValue, 1, int.MinValue, -1 }), [1]);
        Reduce("ReduceSum", TensorData.FromInt64s([2], [(1L << 53) + 1, 1]), null);
        Reduce("ReduceProd", TensorData.Create(ElementType.Int8, [3], new sbyte[] { 100, 3, -2 }), null);
        Reduce("ReduceMax", TensorData.Create(ElementType.UInt64, [2], new[] { ulong.MaxValue, 1UL }), null);
        Reduce("ReduceMean", TensorData.Create(ElementType.Int32, [3], new[] { -7, 0, 0 }), null); // truncates toward zero
    }

    [Fact]
    public void BoolMaxAndMin()
    {
        Reduce("ReduceMax", Random(23, ElementType.Bool, 4, 9), [1]);
        Reduce("ReduceMin", Random(24, ElementType.Bool, 9, 4), [0]);
        Reduce("ReduceMin", TensorData.Zeros(ElementType.Bool, 2, 0), [1]);
    }

    [Theory]
    [MemberData(nameof(AllOperators))]
    public void NaNAndInfinities(string op)
    {
        var x = Floats(25, 4, 40);
        var f = x.Data<float>();
        f[3] = float.NaN;                   // row 0
        f[40 + 7] = float.PositiveInfinity; // row 1
        f[80 + 1] = float.NegativeInfinity; // row 2
        Reduce(op, x, [1]);
        Reduce(op, x, [0]);
    }

    [Theory]
    [MemberData(nameof(AllOperators))]
    public void SymbolicSizes(string op)
    {
        foreach (var axes in new long[][] { [1], [0, 2], [2] })
        {
            var o = new KernelOracle();
            o.Op(op, [o.Input(Floats(26, 3, 5, 7), "N", null, "W"), o.Constant(TensorData.Vector(axes))]);
            o.Check();
        }
    }
}
