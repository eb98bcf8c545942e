using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Kernels.Support;

namespace Kiln.Runtime.Kernels.Normalization;

/// <summary>
/// The portable "normalize" kernel (<see cref="NormalizeDescriptor"/>). Each workgroup takes a
/// run of groups; a group is read in chunks that are widened to double (in scratch), so its
/// statistics and its normalized values are computed in double as the reference does, with
/// TensorPrimitives' vector loops; results are rounded to X's type once, on the way out.
/// </summary>
public sealed unsafe class NormalizeKernel : Kernel
{
    public const string KernelName = "normalize";
    /// <summary>Elements per chunk: four double buffers of this size stay in L1.</summary>
    private const int Chunk = 512;

    private readonly NormalizeDescriptor _d;

    private NormalizeKernel(NormalizeDescriptor d) => _d = d;

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var d = NormalizeDescriptor.Decode(descriptor);
        if (bindingCount != d.BindingCount || constantCount != d.ConstantCount)
            throw new KilnRuntimeException(StatusCode.InvalidModule,
                $"{KernelName}: {bindingCount} bindings and {constantCount} constants; the descriptor needs {d.BindingCount} and {d.ConstantCount}");
        return new NormalizeKernel(d);
    }

    public override string Name => KernelName;

    private int OutputBinding => _d.InputCount;

    public override void Validate(in DispatchState d)
    {
        for (int i = 0; i < _d.ConstantCount; i++) KernelChecks.Size(KernelName, d.Constant(i), $"constant {i}");
        long k0 = d.Constant(0), r0 = d.Constant(1), k1 = d.Constant(2), r1 = d.Constant(3);
        long groups = KernelChecks.Multiply(KernelName, k0, k1), members = KernelChecks.Multiply(KernelName, r0, r1);
        long total = KernelChecks.Multiply(KernelName, groups, members);
        int size = _d.DType.Size();
        KernelChecks.Holds(KernelName, d, 0, total, size, "X");
        KernelChecks.Holds(KernelName, d, OutputBinding, total, size, "Y");
        if (total == 0) return;
        long parameters = members;
        if (_d.Affine == NormalizeAffine.PerChannel)
        {
            long g = d.Constant(4), cg = d.Constant(5), inner = d.Constant(6);
            if (g == 0 || inner == 0) throw KernelChecks.Error(KernelName, "channel groups and their inner size must be positive");
            if (members > KernelChecks.Multiply(KernelName, cg, inner)) throw KernelChecks.Error(KernelName, $"groups of {members} members span more than {cg} channels of {inner}");
            parameters = KernelChecks.Multiply(KernelName, g, cg);
        }
        int binding = 1;
        if (_d.HasScale) KernelChecks.Holds(KernelName, d, binding++, parameters, size, "scale");
        if (_d.HasBias) KernelChecks.Holds(KernelName, d, binding++, parameters, size, "bias");
        binding = OutputBinding + 1;
        if (_d.HasMean) KernelChecks.Holds(KernelName, d, binding++, groups, _d.StatisticsDType.Size(), "mean");
        if (_d.HasDeviation) KernelChecks.Holds(KernelName, d, binding, groups, _d.StatisticsDType.Size(), "deviation");
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) =>
        (WorkSplit.Groups(d.Constant(0) * d.Constant(2), 3 * d.Constant(1) * d.Constant(3), env), 1, 1);

    public override int ScratchBytes(in DispatchState d) => 4 * Chunk * sizeof(double);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        if (_d.DType == DType.Float32) Run<float>(d, wg);
        else Run<double>(d, wg);
    }

    /// <summary>One group: where its runs start, and the scratch it works in.</summary>
    private readonly ref struct Group
    {
        public readonly long Base, RunStride, Runs, RunLength;
        public Group(long @base, long runStride, long runs, long runLength) => (Base, RunStride, Runs, RunLength) = (@base, runStride, runs, runLength);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Run<T>(in DispatchState d, in WorkgroupState wg) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long k1 = d.Constant(2), r0 = d.Constant(1), r1 = d.Constant(3);
        var (start, end) = WorkSplit.Range(wg.X, d.WorkgroupCountX, d.Constant(0) * k1);
        var scratch = new Span<double>(wg.Scratch, 4 * Chunk);
        var widened = scratch[..Chunk];
        var work = scratch.Slice(Chunk, Chunk);
        var scaleBuffer = scratch.Slice(2 * Chunk, Chunk);
        var biasBuffer = scratch.Slice(3 * Chunk, Chunk);
        int binding = 1;
        T* x = (T*)d.Binding(0).Data;
        T* scale = _d.HasScale ? (T*)d.Binding(binding++).Data : null;
        T* bias = _d.HasBias ? (T*)d.Binding(binding).Data : null;
        T* y = (T*)d.Binding(OutputBinding).Data;
        double members = (double)(r0 * r1);

        for (long g = start; g < end; g++)
        {
            var group = new Group((g / k1) * r0 * k1 * r1 + g % k1 * r1, k1 * r1, r0, r1);
            double mean = 0, deviation;
            if (_d.Kind is NormalizeKind.Standardize or NormalizeKind.MeanStdDev)
                mean = Reduce<T, Sum>(x, group, widened, work, 0) / members;
            switch (_d.Kind)
            {
                case NormalizeKind.L1:
                    double l1 = Reduce<T, SumOfMagnitudes>(x, group, widened, work, 0);
                    deviation = l1 == 0 ? 0 : 1 / l1;
                    break;
                case NormalizeKind.L2:
                    double l2 = Math.Sqrt(Reduce<T, SumOfSquares>(x, group, widened, work, 0));
                    deviation = l2 == 0 ? 0 : 1 / l2;
                    break;
                default:
                    double variance = Reduce<T, SumOfSquares>(x, group, widened, work, mean) / members;
                    deviation = _d.Kind == NormalizeKind.MeanStdDev ? 1 / (Math.Sqrt(variance) + _d.Epsilon) : 1 / Math.Sqrt(variance + _d.Epsilon);
                    if (_d.HasMean || _d.HasDeviation) WriteStatistics(d, g, mean, (_d.Flags & NormalizeFlags.VarianceOutput) != 0 ? variance : deviation);
                    break;
            }
            long channelBase = _d.Affine == NormalizeAffine.PerChannel ? g % d.Constant(4) * d.Constant(5) : 0;
            long inner = _d.Affine == NormalizeAffine.PerChannel ? d.Constant(6) : long.MaxValue;
            for (long run = 0; run < group.Runs; run++)
            {
                long at = group.Base + run * group.RunStride, member = run * group.RunLength;
                for (long i = 0; i < group.RunLength;)
                {
                    // Chunks also end at channel boundaries, so a per-channel scale is one value per chunk.
                    int n = (int)Math.Min(Math.Min(Chunk, group.RunLength - i), inner - (member + i) % inner);
                    var values = work[..n];
                    TensorPrimitives.Subtract(Widen(x + at + i, n, widened), mean, values);
                    TensorPrimitives.Multiply(values, deviation, values);
                    switch (_d.Affine)
                    {
                        case NormalizeAffine.PerMember:
                            TensorPrimitives.Multiply(values, Widen(scale + member + i, n, scaleBuffer), values);
                            if (bias != null) TensorPrimitives.Add(values, Widen(bias + member + i, n, biasBuffer), values);
                            break;
                        case NormalizeAffine.PerChannel:
                            long channel = channelBase + (member + i) / inner;
                            TensorPrimitives.Multiply(values, double.CreateTruncating(scale[channel]), values);
                            if (bias != null) TensorPrimitives.Add(values, double.CreateTruncating(bias[channel]), values);
                            break;
                    }
                    Narrow(values, y + at + i);
                    i += n;
                }
            }
        }
    }

    private interface IChunkSum { static abstract double Of(ReadOnlySpan<double> values); }
    private struct Sum : IChunkSum { public static double Of(ReadOnlySpan<double> v) => TensorPrimitives.Sum(v); }
    private struct SumOfMagnitudes : IChunkSum { public static double Of(ReadOnlySpan<double> v) => TensorPrimitives.SumOfMagnitudes(v); }
    private struct SumOfSquares : IChunkSum { public static double Of(ReadOnlySpan<double> v) => TensorPrimitives.SumOfSquares(v); }

    /// <summary>The sum over a group of f(x − shift), chunk by chunk in double.</summary>
    private static double Reduce<T, TSum>(T* x, in Group group, Span<double> widened, Span<double> work, double shift)
        where T : unmanaged, IFloatingPointIeee754<T> where TSum : IChunkSum
    {
        double total = 0;
        for (long run = 0; run < group.Runs; run++)
        {
            T* at = x + group.Base + run * group.RunStride;
            for (long i = 0; i < group.RunLength; i += Chunk)
            {
                int n = (int)Math.Min(Chunk, group.RunLength - i);
                var values = Widen(at + i, n, widened);
                if (shift != 0)
                {
                    TensorPrimitives.Subtract(values, shift, work[..n]);
                    values = work[..n];
                }
                total += TSum.Of(values);
            }
        }
        return total;
    }

    /// <summary>n elements at p as doubles: the elements themselves for double, else converted into the buffer.</summary>
    private static ReadOnlySpan<double> Widen<T>(T* p, int n, Span<double> buffer) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(double)) return new ReadOnlySpan<double>(p, n);
        TensorPrimitives.ConvertChecked<float, double>(new ReadOnlySpan<float>(p, n), buffer[..n]);
        return buffer[..n];
    }

    /// <summary>Rounds double results to T at p.</summary>
    private static void Narrow<T>(ReadOnlySpan<double> values, T* p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(double)) values.CopyTo(new Span<double>(p, values.Length));
        else TensorPrimitives.ConvertChecked<double, float>(values, new Span<float>(p, values.Length));
    }

    private void WriteStatistics(in DispatchState d, long group, double mean, double deviation)
    {
        int binding = OutputBinding + 1;
        if (_d.HasMean) Store(d.Binding(binding++).Data, group, mean);
        if (_d.HasDeviation) Store(d.Binding(binding).Data, group, deviation);
    }

    private void Store(byte* p, long i, double value)
    {
        if (_d.StatisticsDType == DType.Float64) ((double*)p)[i] = value;
        else ((float*)p)[i] = (float)value;
    }
}
