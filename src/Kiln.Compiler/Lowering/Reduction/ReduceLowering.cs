using Kiln.Ir;
using Kiln.Runtime;
using Kiln.Runtime.Kernels.Reduction;

namespace Kiln.Compiler.Lowering.Reduction;

/// <summary>
/// The ONNX Reduce* operators as "reduce" dispatches: each is a (map, combine, finalize) triple.
/// Axes known at compile time become a mask constant; axes computed at run time go to the kernel
/// as a binding (it checks them, and the result's declared shape sizes the output). A large
/// reduction into few values is split in two dispatches: partial values of S slices of every
/// group, then their combination, so the work spreads over workgroups.
/// </summary>
[Lowerings]
public static class ReduceLowering
{
    /// <summary>Reductions into fewer groups than this, over at least <see cref="SplitMinReduced"/> elements each, are split.</summary>
    private const long SplitMaxGroups = 8;
    private const long SplitMinReduced = 128 * 1024;
    private const long SliceElements = 32 * 1024;
    private const long MaxSlices = 64;

    public static void Register(LoweringRegistry r)
    {
        foreach (var (name, map, combine, finalize) in new[]
        {
            ("ReduceSum", ReduceMap.Identity, ReduceCombine.Sum, ReduceFinalize.None),
            ("ReduceMean", ReduceMap.Identity, ReduceCombine.Sum, ReduceFinalize.Divide),
            ("ReduceProd", ReduceMap.Identity, ReduceCombine.Product, ReduceFinalize.None),
            ("ReduceMax", ReduceMap.Identity, ReduceCombine.Max, ReduceFinalize.None),
            ("ReduceMin", ReduceMap.Identity, ReduceCombine.Min, ReduceFinalize.None),
            ("ReduceL1", ReduceMap.Abs, ReduceCombine.Sum, ReduceFinalize.None),
            ("ReduceL2", ReduceMap.Square, ReduceCombine.Sum, ReduceFinalize.Sqrt),
            ("ReduceSumSquare", ReduceMap.Square, ReduceCombine.Sum, ReduceFinalize.None),
            ("ReduceLogSum", ReduceMap.Identity, ReduceCombine.Sum, ReduceFinalize.Log),
            ("ReduceLogSumExp", ReduceMap.Identity, ReduceCombine.LogSumExp, ReduceFinalize.None),
        })
            r.Add(name, ctx => Lower(ctx, map, combine, finalize));
    }

    private static void Lower(LoweringContext ctx, ReduceMap map, ReduceCombine combine, ReduceFinalize finalize)
    {
        var x = ctx.Input(0);
        int rank = x.Rank;
        bool noop = ctx.Op.GetInt("noop_with_empty_axes", 0) != 0;
        long[]? axes = ctx.HasInput(1) ? ctx.Constant(1)?.ToInt64Array() : [];
        if (axes is null) ShapeOperands.ReduceAxes(ctx, noop);
        var y = ctx.NewOutput(0);
        if (axes is null)
        {
            // Axes from data: the kernel reads and checks them; each group then folds in/out elements.
            var source = noop ? ReduceAxes.BindingOrNone : ReduceAxes.BindingOrAll;
            Dim divisor = x.ElementCount / Dim.Max(y.ElementCount, 1);
            Dispatch(ctx, new ReduceDescriptor(map, combine, finalize, x.DType, y.DType, rank, source), x, ctx.Input(1), y, x.Shape, null, divisor, 1);
            return;
        }
        uint mask = 0;
        if (axes.Length == 0) mask = noop ? 0 : (1u << rank) - 1;
        foreach (long a in axes)
        {
            if (a < -rank || a >= rank) throw new KilnException(ErrorCode.InvalidModel, $"{ctx.Op.Describe()}: axis {a} is out of range for rank {rank}");
            mask |= 1u << (int)(a < 0 ? a + rank : a);
        }
        Emit(ctx, map, combine, finalize, x, mask, y);
    }

    /// <summary>Reduces the axes of <paramref name="x"/> in <paramref name="mask"/> into <paramref name="y"/> (split in two dispatches when large).</summary>
    public static void Emit(LoweringContext ctx, ReduceMap map, ReduceCombine combine, ReduceFinalize finalize, TensorRef x, uint mask, TensorRef y)
    {
        int rank = x.Rank;
        Dim groups = 1, reduced = 1;
        for (int d = 0; d < rank; d++)
            if ((mask >> d & 1) != 0) reduced *= x.Shape[d];
            else groups *= x.Shape[d];

        long slices = Slices(groups, reduced);
        if (slices == 1)
        {
            Dispatch(ctx, new ReduceDescriptor(map, combine, finalize, x.DType, y.DType, rank, ReduceAxes.Mask), x, null, y, x.Shape, mask, reduced, 1);
            return;
        }
        // Partial values of each slice in the accumulator type, then their combination along axis 0.
        var partialType = AccumulatorType(x.DType, combine);
        var partial = ctx.NewTemporary(partialType, [slices, groups]);
        Dispatch(ctx, new ReduceDescriptor(map, combine, ReduceFinalize.None, x.DType, partialType, rank, ReduceAxes.Mask), x, null, partial, x.Shape, mask, reduced, slices);
        Dispatch(ctx, new ReduceDescriptor(ReduceMap.Identity, combine, finalize, partialType, y.DType, 2, ReduceAxes.Mask), partial, null, y, partial.Shape, 1, reduced, 1);
    }

    /// <summary>How many slices a reduction of static size is cut into (1: not split).</summary>
    private static long Slices(Dim groups, Dim reduced)
    {
        if (!groups.TryGetValue(out long g) || !reduced.TryGetValue(out long r)) return 1;
        if (g == 0 || g >= SplitMaxGroups || r < SplitMinReduced) return 1;
        return Math.Clamp(r / SliceElements, 2, MaxSlices);
    }

    /// <summary>The type partial values are kept in: the kernel's accumulator (double for floats and log-sum-exp, 64-bit integers otherwise).</summary>
    private static DType AccumulatorType(DType input, ReduceCombine combine) => input switch
    {
        DType.Float32 or DType.Float16 or DType.BFloat16 or DType.Float64 => DType.Float64,
        _ when combine == ReduceCombine.LogSumExp => DType.Float64,
        DType.UInt64 => DType.UInt64,
        _ => DType.Int64,
    };

    private static void Dispatch(LoweringContext ctx, ReduceDescriptor desc, TensorRef x, TensorRef? axes, TensorRef y, Dim[] dims, uint? mask, Dim divisor, long slices)
    {
        var constants = new List<Dim>(dims);
        if (mask is { } m) constants.Add(m);
        constants.Add(divisor);
        constants.Add(slices);
        var spec = new KernelSpec(ReduceKernel.KernelName, desc.Encode(), desc.BindingCount, desc.ConstantCount);
        ctx.Dispatch(spec, axes is null ? [x] : [x, axes], [y], constants);
    }
}
