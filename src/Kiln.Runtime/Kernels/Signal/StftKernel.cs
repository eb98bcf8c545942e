using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Signal;

/// <summary>
/// The portable "stft" kernel: STFT of signals [batch, length, 1 or 2] — the forward transform
/// of each frame of frame_length samples, starting every frame_step samples and multiplied by the
/// window if one is given, into [batch, frames, frequencies, 2], computed in double with
/// <see cref="FourierTransform"/>. Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 dtype (float) · u8 onesided · u8 frame_step dtype (int32/int64)
/// · u8 has window · u8 frame_length dtype (0: none, else int32/int64)
/// </code>
/// Bindings: signal, frame_step, window (if any), frame_length (if any), y. Push constants:
/// batch, length, channels, window length (0 without one), frames, frequencies. frame_step and
/// frame_length are read at run time and must give the compiled frames and frequencies.
/// </summary>
public sealed unsafe class StftKernel : Kernel
{
    public const string KernelName = "stft";
    public const byte Version = 1;
    private const long ChunkWork = 64 * 1024;

    private readonly DType _dtype, _stepType;
    private readonly DType? _lengthType;
    private readonly bool _onesided, _hasWindow;

    private StftKernel(DType dtype, bool onesided, DType stepType, bool hasWindow, DType? lengthType) =>
        (_dtype, _onesided, _stepType, _hasWindow, _lengthType) = (dtype, onesided, stepType, hasWindow, lengthType);

    public static byte[] Encode(DType dtype, bool onesided, DType stepType, bool hasWindow, DType? lengthType) =>
        new DescriptorWriter().U8(Version).U8((byte)dtype).U8(onesided ? 1 : 0).U8((byte)stepType).U8(hasWindow ? 1 : 0)
            .U8(lengthType is { } l ? (byte)l : 0).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var dtype = r.ReadDType(DTypeKind.Float, "signal");
        bool onesided = r.ReadFlag("onesided");
        var stepType = r.ReadDType(DTypeKind.Index, "frame_step");
        bool hasWindow = r.ReadFlag("has window");
        byte lengthCode = r.U8();
        DType? lengthType = lengthCode == 0 ? null
            : lengthCode is (byte)DType.Int32 or (byte)DType.Int64 ? (DType)lengthCode : throw r.Invalid($"frame_length dtype {lengthCode} is not int32 or int64");
        r.ExpectEnd();
        DescriptorFields.CheckCounts(KernelName, bindingCount, 3 + (hasWindow ? 1 : 0) + (lengthType is null ? 0 : 1), constantCount, 6);
        return new StftKernel(dtype, onesided, stepType, hasWindow, lengthType);
    }

    public override string Name => KernelName;

    private int OutputBinding => 2 + (_hasWindow ? 1 : 0) + (_lengthType is null ? 0 : 1);

    private readonly record struct Geometry(long Batch, long Length, long Channels, long Step, int FrameLength, long Frames, long Frequencies);

    private Geometry Measure(in DispatchState d)
    {
        long batch = DispatchChecks.Size(d.Constant(0), KernelName, "batch"), length = DispatchChecks.Size(d.Constant(1), KernelName, "signal length");
        long channels = d.Constant(2), windowLength = d.Constant(3), frames = d.Constant(4), frequencies = d.Constant(5);
        if (channels is not (1 or 2)) throw DispatchChecks.OutOfRange(KernelName, $"the last signal dimension must be 1 (real) or 2 (complex), got {channels}");
        long step = SignalOperands.ReadScalar(d, 1, _stepType, KernelName, "frame_step");
        long frameLength = _lengthType is { } lt ? SignalOperands.ReadScalar(d, OutputBinding - 1, lt, KernelName, "frame_length")
            : _hasWindow ? windowLength : length;
        if (_hasWindow && windowLength != frameLength)
            throw DispatchChecks.OutOfRange(KernelName, $"the window has {windowLength} values, frame_length is {frameLength} at run time");
        if (step < 1 || frameLength < 1 || frameLength > length || frameLength > FourierTransform.MaxLength)
            throw DispatchChecks.OutOfRange(KernelName, $"frame_step ({step}) must be positive and frame_length ({frameLength}) in [1, {Math.Min(length, FourierTransform.MaxLength)}]");
        long expectedFrames = (length - frameLength) / step + 1, expectedFrequencies = _onesided ? frameLength / 2 + 1 : frameLength;
        if (frames != expectedFrames || frequencies != expectedFrequencies)
            throw DispatchChecks.OutOfRange(KernelName,
                $"frame_step {step} and frame_length {frameLength} give {expectedFrames} frames of {expectedFrequencies} frequencies at run time, but the result was compiled for {frames} of {frequencies}");
        return new Geometry(batch, length, channels, step, (int)frameLength, frames, frequencies);
    }

    public override void Validate(in DispatchState d)
    {
        var g = Measure(d);
        DispatchChecks.Fits(d, 0, DispatchChecks.Product([g.Batch, g.Length, g.Channels], KernelName, "signal size"), _dtype.Size(), KernelName, "the signal");
        if (_hasWindow) DispatchChecks.Fits(d, 2, g.FrameLength, _dtype.Size(), KernelName, "the window");
        DispatchChecks.Fits(d, OutputBinding, DispatchChecks.Product([g.Batch, g.Frames, g.Frequencies, 2], KernelName, "output size"), _dtype.Size(), KernelName, "the output");
    }

    private static long FramesPerWorkgroup(int frameLength) => Math.Max(1, ChunkWork / frameLength);

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        var g = Measure(d);
        long total = g.Batch * g.Frames, per = FramesPerWorkgroup(g.FrameLength);
        return (total == 0 ? 0 : (int)Math.Min(int.MaxValue, (total + per - 1) / per), 1, 1);
    }

    public override int ScratchBytes(in DispatchState d)
    {
        int n = Measure(d).FrameLength;
        return (int)((FourierTransform.ScratchDoubles(n) + 2L * n) * sizeof(double));
    }

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        var g = Measure(d);
        int n = g.FrameLength;
        long per = FramesPerWorkgroup(n), first = wg.X * per, last = Math.Min(g.Batch * g.Frames, first + per);
        var fft = new FourierTransform(n, (double*)wg.Scratch);
        double* re = (double*)wg.Scratch + FourierTransform.ScratchDoubles(n), im = re + n;
        byte* x = d.Binding(0).Data, window = _hasWindow ? d.Binding(2).Data : null, y = d.Binding(OutputBinding).Data;
        for (long frame = first; frame < last; frame++)
        {
            long b = frame / g.Frames, f = frame % g.Frames;
            for (long t = 0; t < n; t++)
            {
                long at = (b * g.Length + f * g.Step + t) * g.Channels;
                double w = window is null ? 1 : SignalOperands.Load(_dtype, window, t);
                re[t] = w * SignalOperands.Load(_dtype, x, at);
                im[t] = g.Channels == 2 ? w * SignalOperands.Load(_dtype, x, at + 1) : 0;
            }
            fft.Forward(re, im);
            for (long k = 0; k < g.Frequencies; k++)
            {
                long at = (frame * g.Frequencies + k) * 2;
                SignalOperands.Store(_dtype, y, at, re[k]);
                SignalOperands.Store(_dtype, y, at + 1, im[k]);
            }
        }
    }
}
