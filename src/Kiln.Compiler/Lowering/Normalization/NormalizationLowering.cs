using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime;
using Kiln.Runtime.Kernels.Normalization;

namespace Kiln.Compiler.Lowering.Normalization;

/// <summary>
/// The statistics normalizations as one "normalize" dispatch each: the lowering finds the view of
/// X as [K0, R0, K1, R1] (groups (k0, k1), members (r0, r1)) and how scale and bias index into a
/// group. BatchNormalization in inference mode is elementwise and lives in <see cref="BatchNormalizationLowering"/>.
/// </summary>
[Lowerings]
public static class NormalizationLowering
{
    public static void Register(LoweringRegistry r)
    {
        r.Add("LayerNormalization", ctx => LowerTrailing(ctx, NormalizeKind.Standardize, hasBias: ctx.HasInput(2)));
        r.Add("RMSNormalization", ctx => LowerTrailing(ctx, NormalizeKind.RootMeanSquare, hasBias: false));
        r.Add("InstanceNormalization", LowerInstance);
        r.Add("GroupNormalization", LowerGroup);
        r.Add("MeanVarianceNormalization", LowerMeanVariance);
        r.Add("LpNormalization", LowerLp);
        r.Add("LRN", LowerLocalResponse);
    }

    /// <summary>X viewed as [K0, R0, K1, R1]: groups are (k0, k1), each normalized over its R0 runs of R1 contiguous members.</summary>
    internal sealed record GroupLayout(Dim K0, Dim R0, Dim K1, Dim R1)
    {
        public static GroupLayout Rows(Dim rows, Dim length) => new(rows, 1, 1, length);
    }

    /// <summary>A "normalize" dispatch; the statistics outputs (one value per group) are optional.</summary>
    internal static void Emit(LoweringContext ctx, TensorRef x, GroupLayout layout, NormalizeKind kind, double epsilon, TensorRef y,
        NormalizeAffine affine = NormalizeAffine.None, TensorRef? scale = null, TensorRef? bias = null, Dim[]? channels = null,
        TensorRef? mean = null, TensorRef? deviation = null, bool varianceOutput = false)
    {
        var dtype = ComputeCasts.FloatFor(x.DType);
        var statistics = mean?.DType ?? deviation?.DType ?? DType.Float32;
        if (statistics is not (DType.Float32 or DType.Float64)) throw ctx.Unsupported($"statistics of type {statistics.Name()}");
        var flags = NormalizeFlags.None;
        if (bias is not null) flags |= NormalizeFlags.Bias;
        if (mean is not null) flags |= NormalizeFlags.MeanOutput;
        if (deviation is not null) flags |= varianceOutput ? NormalizeFlags.VarianceOutput : NormalizeFlags.InverseStdDevOutput;
        var descriptor = new NormalizeDescriptor(dtype, kind, affine, flags, statistics, epsilon);

        var inputs = new List<TensorRef> { ComputeCasts.Converted(ctx, x, dtype) };
        if (scale is not null) inputs.Add(ComputeCasts.Converted(ctx, scale, dtype));
        if (bias is not null) inputs.Add(ComputeCasts.Converted(ctx, bias, dtype));
        var target = ComputeCasts.Target(ctx, y, dtype);
        var outputs = new List<TensorRef> { target };
        if (mean is not null) outputs.Add(mean);
        if (deviation is not null) outputs.Add(deviation);
        var constants = new List<Dim> { layout.K0, layout.R0, layout.K1, layout.R1 };
        if (affine == NormalizeAffine.PerChannel) constants.AddRange(channels ?? throw new ArgumentNullException(nameof(channels)));
        ctx.Dispatch(new KernelSpec(NormalizeKernel.KernelName, descriptor.Encode(), descriptor.BindingCount, descriptor.ConstantCount), inputs, outputs, constants);
        ComputeCasts.Finish(ctx, target, y);
    }

    /// <summary>LayerNormalization and RMSNormalization: rows of the axes from 'axis' on, scale and bias per member.</summary>
    private static void LowerTrailing(LoweringContext ctx, NormalizeKind kind, bool hasBias)
    {
        var x = ctx.Input(0);
        int axis = Axes.Normalize(ctx.Op.GetInt("axis", -1), x.Rank, ctx.Op);
        var normalized = x.Shape[axis..];
        var layout = GroupLayout.Rows(Layout.Product(x.Shape[..axis]), Layout.Product(normalized));
        var scale = MemberParameter(ctx, ctx.Input(1), normalized, "scale");
        var bias = hasBias ? MemberParameter(ctx, ctx.Input(2), normalized, "bias") : null;
        var mean = ctx.Op.HasOutput(1) ? ctx.NewOutput(1) : null;
        var deviation = ctx.Op.HasOutput(2) ? ctx.NewOutput(2) : null;
        Emit(ctx, x, layout, kind, ctx.Op.GetFloat("epsilon", 1e-5f), ctx.NewOutput(0), NormalizeAffine.PerMember, scale, bias, mean: mean, deviation: deviation);
    }

    /// <summary>
    /// A scale or bias as one value per member of the normalized shape: itself when it already
    /// has that shape (leading ones aside), else broadcast into a temporary.
    /// </summary>
    private static TensorRef MemberParameter(LoweringContext ctx, TensorRef p, Dim[] normalized, string name)
    {
        int extra = p.Rank - normalized.Length;
        for (int i = 0; i < extra; i++)
            if (!(p.Shape[i].TryGetValue(out long one) && one == 1))
                throw ctx.Unsupported($"{name} of shape [{string.Join(",", p.Shape)}] varies along the axes that are not normalized");
        var trimmed = p.View(p.Shape[Math.Max(0, extra)..]);
        int offset = normalized.Length - trimmed.Rank;
        if (normalized.Skip(offset).SequenceEqual(trimmed.Shape)) return trimmed;
        var expanded = ctx.NewTemporary(p.DType, normalized);
        StridedCopy.Emit(ctx, normalized, new StridedView(trimmed, 0, Layout.BroadcastStrides(trimmed.Shape, normalized, ctx.Op)), StridedView.Contiguous(expanded));
        return expanded;
    }

    /// <summary>InstanceNormalization: each (n, c) plane is a group; scale and bias per channel.</summary>
    private static void LowerInstance(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Rank < 3) throw ctx.Unsupported($"rank {x.Rank} input");
        Dim channels = x.Shape[1], spatial = Layout.Product(x.Shape.Skip(2));
        Emit(ctx, x, GroupLayout.Rows(x.Shape[0] * channels, spatial), NormalizeKind.Standardize, ctx.Op.GetFloat("epsilon", 1e-5f), ctx.NewOutput(0),
            NormalizeAffine.PerChannel, ChannelParameter(ctx, 1, channels, "scale"), ChannelParameter(ctx, 2, channels, "B"), [channels, 1, spatial]);
    }

    /// <summary>GroupNormalization (opset 21): each (n, group) is contiguous; scale and bias per channel.</summary>
    private static void LowerGroup(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        long groups = ctx.Op.GetInt("num_groups");
        if (!x.Shape[1].TryGetValue(out long channels)) throw ctx.Unsupported("a symbolic channel count");
        if (groups <= 0 || channels % groups != 0)
            throw new KilnException(ErrorCode.InvalidModel, $"{ctx.Op.Describe()}: num_groups {groups} does not divide the {channels} channels");
        Dim spatial = Layout.Product(x.Shape.Skip(2));
        Emit(ctx, x, GroupLayout.Rows(x.Shape[0] * groups, channels / groups * spatial), NormalizeKind.Standardize, ctx.Op.GetFloat("epsilon", 1e-5f),
            ctx.NewOutput(0), NormalizeAffine.PerChannel, ChannelParameter(ctx, 1, channels, "scale"), ChannelParameter(ctx, 2, channels, "bias"),
            [groups, channels / groups, spatial]);
    }

    private static TensorRef ChannelParameter(LoweringContext ctx, int input, Dim channels, string name)
    {
        var p = ctx.Input(input);
        if (p.Rank != 1 || p.Shape[0] != channels)
            throw new KilnException(ErrorCode.InvalidModel, $"{ctx.Op.Describe()}: {name} must have shape [{channels}] (one value per channel), got [{string.Join(",", p.Shape)}]");
        return p;
    }

    /// <summary>MeanVarianceNormalization over 'axes': the reduced and kept axes must alternate as in [K0, R0, K1, R1].</summary>
    private static void LowerMeanVariance(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        var axes = Axes.Normalize(ctx.Op.GetInts("axes") ?? [0, 2, 3], x.Rank, ctx.Op);
        var layout = ReducedLayout(ctx, x.Shape, axes.ToHashSet());
        Emit(ctx, x, layout, NormalizeKind.MeanStdDev, 1e-9, ctx.NewOutput(0));
    }

    /// <summary>LpNormalization along one axis: [outer, L, inner] as groups (outer, inner) of L members.</summary>
    private static void LowerLp(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        long p = ctx.Op.GetInt("p", 2);
        if (p is not (1 or 2)) throw new KilnException(ErrorCode.InvalidModel, $"{ctx.Op.Describe()}: p must be 1 or 2, got {p}");
        int axis = Axes.Normalize(ctx.Op.GetInt("axis", -1), x.Rank, ctx.Op);
        var layout = ReducedLayout(ctx, x.Shape, new HashSet<int> { axis });
        Emit(ctx, x, layout, p == 1 ? NormalizeKind.L1 : NormalizeKind.L2, 0, ctx.NewOutput(0));
    }

    /// <summary>LRN: a "lrn" dispatch over X as [N, C, spatial].</summary>
    private static void LowerLocalResponse(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Rank < 2) throw ctx.Unsupported($"rank {x.Rank} input");
        long size = ctx.Op.GetInt("size");
        if (size is < 1 or > 1 << 20) throw new KilnException(ErrorCode.InvalidModel, $"{ctx.Op.Describe()}: size must be positive, got {size}");
        var dtype = ComputeCasts.FloatFor(x.DType);
        var descriptor = LrnKernel.Encode(dtype, size, ctx.Op.GetFloat("alpha", 1e-4f), ctx.Op.GetFloat("beta", 0.75f), ctx.Op.GetFloat("bias", 1f));
        var y = ctx.NewOutput(0);
        var target = ComputeCasts.Target(ctx, y, dtype);
        ctx.Dispatch(new KernelSpec(LrnKernel.KernelName, descriptor, 2, 3), [ComputeCasts.Converted(ctx, x, dtype)], [target],
            [x.Shape[0], x.Shape[1], Layout.Product(x.Shape.Skip(2))]);
        ComputeCasts.Finish(ctx, target, y);
    }

    /// <summary>
    /// Merges consecutive axes of the same kind (kept or reduced) and fits the result into
    /// [K0, R0, K1, R1] (absent parts are 1). Axes of size 1 join either kind.
    /// </summary>
    internal static GroupLayout ReducedLayout(LoweringContext ctx, Dim[] shape, ISet<int> reduced)
    {
        var parts = new Dim[] { 1, 1, 1, 1 };
        int part = 0; // 0: K0, 1: R0, 2: K1, 3: R1
        for (int a = 0; a < shape.Length; a++)
        {
            if (shape[a].TryGetValue(out long size) && size == 1) continue;
            int kind = reduced.Contains(a) ? 1 : 0;
            if (part % 2 != kind) part++;
            if (part > 3) throw ctx.Unsupported("the reduced axes alternate with kept ones more than [kept, reduced, kept, reduced] allows");
            parts[part] *= shape[a];
        }
        return new GroupLayout(parts[0], parts[1], parts[2], parts[3]);
    }
}
