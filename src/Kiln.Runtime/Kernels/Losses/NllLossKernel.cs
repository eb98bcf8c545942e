using Kiln.Runtime.Hal;
using Kiln.Runtime.Kernels.Indexing;

namespace Kiln.Runtime.Kernels.Losses;

public enum LossReduction : byte { None = 0, Sum = 1, Mean = 2 }

/// <summary>
/// The portable "nll-loss" kernel: NegativeLogLikelihoodLoss of log-probabilities [N, C, D]
/// (D: the trailing dims flattened) against integer targets [N, D]: loss = −logp[n, t, d] · w[t],
/// 0 where the target is ignore_index; then none, sum, or mean (the sum over the total weight of
/// the counted targets). Targets outside [0, C) are an error. Computed in double, in one
/// workgroup (a loss is small next to the network that produced it). Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 dtype (float type) · u8 target dtype (int32/int64) · u8 reduction · u8 has weight · u8 has ignore index · i64 ignore index
/// </code>
/// Bindings: log-probabilities, targets, weight ([C], if present), loss ([N, D] for none, else one
/// value). Push constants: N, C, D.
/// </summary>
public sealed unsafe class NllLossKernel : Kernel
{
    public const string KernelName = "nll-loss";
    public const byte Version = 1;

    private readonly DType _dtype, _targetType;
    private readonly LossReduction _reduction;
    private readonly bool _hasWeight, _hasIgnore;
    private readonly long _ignoreIndex;

    private NllLossKernel(DType dtype, DType targetType, LossReduction reduction, bool hasWeight, bool hasIgnore, long ignoreIndex) =>
        (_dtype, _targetType, _reduction, _hasWeight, _hasIgnore, _ignoreIndex) = (dtype, targetType, reduction, hasWeight, hasIgnore, ignoreIndex);

    public static byte[] Encode(DType dtype, DType targetType, LossReduction reduction, bool hasWeight, long? ignoreIndex) =>
        new DescriptorWriter().U8(Version).U8((byte)dtype).U8((byte)targetType).U8((byte)reduction).U8(hasWeight ? 1 : 0)
            .U8(ignoreIndex is null ? 0 : 1).I64(ignoreIndex ?? 0).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Float, "input");
        var targetType = r.ReadDType(DTypeKind.Index, "target");
        var reduction = (LossReduction)r.U8();
        if (reduction > LossReduction.Mean) throw r.Invalid($"unknown reduction {(byte)reduction}");
        bool hasWeight = r.ReadFlag("has weight"), hasIgnore = r.ReadFlag("has ignore index");
        long ignoreIndex = r.I64();
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, hasWeight ? 4 : 3, constantCount, 3);
        return new NllLossKernel(dtype, targetType, reduction, hasWeight, hasIgnore, ignoreIndex);
    }

    public override string Name => KernelName;

    public override void Validate(in DispatchState d)
    {
        long n = d.Constant(0), c = d.Constant(1), inner = d.Constant(2);
        long targets = DispatchChecks.Product([n, inner], KernelName, "target count");
        DispatchChecks.Fits(d, 0, DispatchChecks.Product([n, c, inner], KernelName, "input size"), _dtype.Size(), KernelName, "the input");
        DispatchChecks.Fits(d, 1, targets, _targetType.Size(), KernelName, "targets");
        if (_hasWeight) DispatchChecks.Fits(d, 2, c, _dtype.Size(), KernelName, "weights");
        DispatchChecks.Fits(d, _hasWeight ? 3 : 2, _reduction == LossReduction.None ? targets : 1, _dtype.Size(), KernelName, "the loss");
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) => (1, 1, 1);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        long c = d.Constant(1), inner = d.Constant(2), count = d.Constant(0) * inner;
        byte* input = d.Binding(0).Data, targets = d.Binding(1).Data, weights = _hasWeight ? d.Binding(2).Data : null;
        byte* loss = d.Binding(_hasWeight ? 3 : 2).Data;
        int size = _dtype.Size();
        double sum = 0, totalWeight = 0;
        for (long i = 0; i < count; i++)
        {
            long t = IndexValues.Read(_targetType, targets, i);
            double value = 0;
            if (!_hasIgnore || t != _ignoreIndex)
            {
                if (t < 0 || t >= c) throw DispatchChecks.OutOfRange(KernelName, $"target {t} at position {i} is not a class index in [0, {c})");
                double w = weights is null ? 1 : ElementRows.LoadOne<double>(_dtype, weights + t * size);
                long n = i / inner, position = i % inner;
                value = -ElementRows.LoadOne<double>(_dtype, input + ((n * c + t) * inner + position) * size) * w;
                totalWeight += w;
            }
            if (_reduction == LossReduction.None) ElementRows.StoreOne(value, _dtype, loss + i * size);
            else sum += value;
        }
        if (_reduction != LossReduction.None) ElementRows.StoreOne(_reduction == LossReduction.Sum ? sum : sum / totalWeight, _dtype, loss);
    }
}
