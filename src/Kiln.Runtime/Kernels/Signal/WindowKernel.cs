using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Signal;

/// <summary>
/// The portable "window" kernel: the Hann, Hamming and Blackman windows,
/// w[t] = a0 − a1·cos(2πt/N) + a2·cos(4πt/N) for t in [0, size), with N = size when periodic and
/// size − 1 when symmetric (a one-point symmetric window is 1), computed in double and stored
/// with Cast semantics. Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 kind (0 Hann, 1 Hamming, 2 Blackman) · u8 periodic · u8 size dtype (int32/int64) · u8 element dtype (numeric)
/// </code>
/// Bindings: size (one value), y. Push constants: the size the result was compiled for, which
/// the size operand must equal at run time.
/// </summary>
public sealed unsafe class WindowKernel : Kernel
{
    public const string KernelName = "window";
    public const byte Version = 1;

    /// <summary>The window families, by their descriptor code.</summary>
    public enum Kind : byte { Hann = 0, Hamming = 1, Blackman = 2 }

    private readonly double _a0, _a1, _a2;
    private readonly bool _periodic;
    private readonly DType _sizeType, _dtype;

    private WindowKernel(Kind kind, bool periodic, DType sizeType, DType dtype)
    {
        (_a0, _a1, _a2) = kind switch
        {
            Kind.Hann => (0.5, 0.5, 0.0),
            Kind.Hamming => (25.0 / 46, 21.0 / 46, 0.0),
            _ => (0.42, 0.5, 0.08),
        };
        (_periodic, _sizeType, _dtype) = (periodic, sizeType, dtype);
    }

    public static byte[] Encode(Kind kind, bool periodic, DType sizeType, DType dtype) =>
        new DescriptorWriter().U8(Version).U8((byte)kind).U8(periodic ? 1 : 0).U8((byte)sizeType).U8((byte)dtype).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        byte kind = r.U8();
        if (kind > (byte)Kind.Blackman) throw r.Invalid($"window kind {kind} is unknown");
        bool periodic = r.ReadFlag("periodic");
        var sizeType = r.ReadDType(DTypeKind.Index, "size");
        var dtype = r.ReadDType(DTypeKind.Numeric, "element");
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 2, constantCount, 1);
        return new WindowKernel((Kind)kind, periodic, sizeType, dtype);
    }

    public override string Name => KernelName;

    public override void Validate(in DispatchState d)
    {
        long size = DispatchChecks.Size(d.Constant(0), KernelName, "window size");
        long given = SignalOperands.ReadScalar(d, 0, _sizeType, KernelName, "size");
        if (given != size) throw DispatchChecks.OutOfRange(KernelName, $"size is {given} at run time, but the window was compiled for {size} values");
        DispatchChecks.Fits(d, 1, size, _dtype.Size(), KernelName, "the window");
    }

    // Windows are short (a frame's length): one workgroup.
    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) => (d.Constant(0) == 0 ? 0 : 1, 1, 1);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        long size = d.Constant(0), period = _periodic ? size : size - 1;
        byte* y = d.Binding(1).Data;
        for (long t = 0; t < size; t++)
        {
            double angle = 2 * Math.PI * t / period;
            double w = period == 0 ? 1 : _a0 - _a1 * Math.Cos(angle) + _a2 * Math.Cos(2 * angle);
            ElementRows.StoreOne(w, _dtype, y + t * _dtype.Size());
        }
    }
}
