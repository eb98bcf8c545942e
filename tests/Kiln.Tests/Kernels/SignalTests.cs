using Kiln.Ir;
using static Kiln.Tests.Kernels.KernelOracle;

namespace Kiln.Tests.Kernels;

/// <summary>
/// DFT ("dft"), STFT ("stft"), the cosine windows ("window"), MelWeightMatrix ("melweights"), Det ("det") and ReverseSequence
/// ("reversesequence") against the reference: power-of-two and other lengths, every flag, scalar
/// operands as constants and as data, and the refusal of operands that contradict the compiled shapes.
/// </summary>
public class SignalTests
{
    private static TensorData Int64(long v) => TensorData.Scalar(ElementType.Int64, v);

    private static void Dft(TensorData x, long axis, bool inverse, bool onesided, long? dftLength, bool operandsAsData, double rtol = 1e-4)
    {
        int rank = x.Rank;
        int a = (int)(axis < 0 ? axis + rank : axis);
        long n = dftLength ?? (inverse && onesided ? 2 * (x.Shape[a] - 1) : x.Shape[a]);
        var shape = (long[])x.Shape.Clone();
        shape[a] = !inverse && onesided ? n / 2 + 1 : n;
        shape[^1] = inverse && onesided ? 1 : 2;
        var o = new KernelOracle();
        Value? length = dftLength is { } l ? o.Operand(Int64(l), !operandsAsData) : null;
        o.Op("DFT", [o.Input(x), length, o.Operand(Int64(axis), !operandsAsData)], [Int("inverse", inverse ? 1 : 0), Int("onesided", onesided ? 1 : 0)],
            declared: [new TensorType(x.ElementType, Shape.Of(shape))]);
        o.Check(rtol, 1e-5);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(8)]
    [InlineData(10)]
    [InlineData(17)]
    [InlineData(64)]
    [InlineData(100)]
    public void DftOfEveryKind(long n)
    {
        foreach (long channels in new long[] { 1, 2 })
        {
            var x = Floats((int)(n + channels), 2, n, 3, channels);
            Dft(x, 1, inverse: false, onesided: false, null, operandsAsData: true);
            Dft(x, -2, inverse: true, onesided: false, null, operandsAsData: false);
            Dft(x, 1, inverse: false, onesided: true, null, operandsAsData: true);
            Dft(x, 0, inverse: false, onesided: false, null, operandsAsData: true);
        }
        // A half spectrum back to a real signal of n samples.
        var half = Floats(7, 2, n / 2 + 1, 2);
        Dft(half, 1, inverse: true, onesided: true, n, operandsAsData: true);
        if (n > 1) Dft(Floats(8, 3, n, 2), 1, inverse: true, onesided: true, null, operandsAsData: false);
    }

    [Fact]
    public void DftLengthCutsOrPads()
    {
        var x = Floats(9, 2, 12, 2);
        foreach (long n in new long[] { 1, 5, 12, 16, 30 })
        {
            Dft(x, 1, inverse: false, onesided: false, n, operandsAsData: true);
            Dft(x, 1, inverse: true, onesided: false, n, operandsAsData: false);
            Dft(x, 1, inverse: false, onesided: true, n, operandsAsData: true);
        }
    }

    [Theory]
    [InlineData(ElementType.Float64, 1e-9)]
    [InlineData(ElementType.Float16, 1e-2)]
    [InlineData(ElementType.BFloat16, 2e-2)]
    public void DftOfOtherElementTypes(ElementType type, double rtol)
    {
        var x = Random(10, type, 3, 12, 2);
        Dft(x, 1, inverse: false, onesided: false, null, operandsAsData: true, rtol);
        Dft(x, 1, inverse: true, onesided: false, 16, operandsAsData: true, rtol);
    }

    [Fact]
    public void DftLengthMustGiveTheCompiledShape()
    {
        var o = new KernelOracle();
        o.Op("DFT", [o.Input(Floats(11, 1, 8, 1)), o.Input(Int64(6)), o.Input(Int64(1))],
            declared: [new TensorType(ElementType.Float32, Shape.Of(1, 8, 2))]);
        o.CheckFails("gives 6 values at run time, but the result was compiled for 8");
    }

    [Fact]
    public void DftAxisMustBeASignalAxis()
    {
        var o = new KernelOracle();
        o.Op("DFT", [o.Input(Floats(12, 1, 8, 2)), null, o.Input(Int64(2))],
            declared: [new TensorType(ElementType.Float32, Shape.Of(1, 8, 2))]);
        o.CheckFails("axis must be in");
    }

    private static void Stft(TensorData signal, long step, long frameLength, bool window, bool lengthOperand, bool onesided, bool operandsAsData)
    {
        long frames = (signal.Shape[1] - frameLength) / step + 1, frequencies = onesided ? frameLength / 2 + 1 : frameLength;
        var o = new KernelOracle();
        o.Op("STFT", [o.Input(signal), o.Operand(Int64(step), !operandsAsData), window ? o.Input(Floats(13, frameLength)) : null,
                lengthOperand ? o.Operand(Int64(frameLength), !operandsAsData) : null],
            [Int("onesided", onesided ? 1 : 0)],
            declared: [new TensorType(signal.ElementType, Shape.Of(signal.Shape[0], frames, frequencies, 2))]);
        o.Check(1e-4, 1e-5);
    }

    [Fact]
    public void StftFramesWindowsAndSides()
    {
        foreach (long channels in new long[] { 1, 2 })
        {
            var signal = Floats(14, 2, 40, channels);
            Stft(signal, 4, 16, window: false, lengthOperand: true, onesided: true, operandsAsData: true);
            Stft(signal, 3, 10, window: true, lengthOperand: false, onesided: false, operandsAsData: true);
            Stft(signal, 7, 9, window: true, lengthOperand: true, onesided: true, operandsAsData: false);
            Stft(signal, 1, 40, window: false, lengthOperand: false, onesided: true, operandsAsData: true);
        }
    }

    [Fact]
    public void StftStepMustGiveTheCompiledFrames()
    {
        var o = new KernelOracle();
        o.Op("STFT", [o.Input(Floats(15, 1, 32, 1)), o.Input(Int64(4)), null, o.Input(Int64(8))],
            declared: [new TensorType(ElementType.Float32, Shape.Of(1, 4, 5, 2))]);
        o.CheckFails("give 7 frames of 5 frequencies at run time, but the result was compiled for 4 of 5");
    }

    [Theory]
    [InlineData("HannWindow")]
    [InlineData("HammingWindow")]
    [InlineData("BlackmanWindow")]
    public void Windows(string op)
    {
        foreach (long size in new long[] { 0, 1, 2, 7, 16 })
            foreach (long periodic in new long[] { 0, 1 })
                foreach (var type in new[] { ElementType.Float32, ElementType.Float64, ElementType.Float16 })
                    foreach (bool asData in new[] { true, false })
                    {
                        var o = new KernelOracle();
                        o.Op(op, [o.Operand(TensorData.Scalar(ElementType.Int32, (int)size), !asData)],
                            [Int("periodic", periodic), Int("output_datatype", (long)type)],
                            declared: [new TensorType(type, Shape.Of(size))]);
                        o.Check(1e-6, 1e-7);
                    }
    }

    [Fact]
    public void WindowSizeMustMatchTheCompiledShape()
    {
        var o = new KernelOracle();
        o.Op("HannWindow", [o.Input(Int64(9))], declared: [new TensorType(ElementType.Float32, Shape.Of(10))]);
        o.CheckFails("size is 9 at run time, but the window was compiled for 10 values");
    }

    [Fact]
    public void Determinants()
    {
        foreach (var shape in new long[][] { [3, 3], [4, 2, 2], [2, 3, 5, 5], [2, 1, 1], [3, 8, 8], [2, 0, 0] })
            foreach (var type in new[] { ElementType.Float32, ElementType.Float64, ElementType.Float16 })
            {
                var o = new KernelOracle();
                o.Op("Det", [o.Input(Random(16, type, shape))]);
                o.Check(type == ElementType.Float16 ? 1e-2 : 1e-4, 1e-5);
            }
        // Singular: two equal rows, and an all-zero column.
        var singular = new KernelOracle();
        singular.Op("Det", [singular.Input(TensorData.FromFloats([2, 3, 3], [1, 2, 3, 1, 2, 3, 4, 5, 6, 0, 1, 2, 0, 3, 4, 0, 5, 6]))]);
        singular.Check();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void ReverseSequences(long timeAxis)
    {
        long steps = 5, batch = 4;
        var shape = timeAxis == 0 ? new long[] { steps, batch, 3 } : [batch, steps, 3];
        foreach (var lengthType in new[] { ElementType.Int64, ElementType.Int32 })
        {
            var o = new KernelOracle();
            var lengths = TensorData.Create(ElementType.Int64, [batch], new long[] { 0, 1, 3, 5 });
            if (lengthType == ElementType.Int32) lengths = TensorData.Create(ElementType.Int32, [batch], new[] { 5, 2, 0, 4 });
            o.Op("ReverseSequence", [o.Input(Random(17, ElementType.Int16, shape)), o.Input(lengths)], [Int("time_axis", timeAxis), Int("batch_axis", 1 - timeAxis)]);
            o.Check();
        }
    }

    [Fact]
    public void ReverseSequenceRefusesLengthsBeyondTheTimeAxis()
    {
        var o = new KernelOracle();
        o.Op("ReverseSequence", [o.Input(Floats(18, 3, 2)), o.Input(TensorData.Create(ElementType.Int64, [2], new long[] { 1, 4 }))]);
        o.CheckFails("sequence_lens[1] = 4 must lie in [0, 3]");
    }

    private static KernelOracle MelWeights(long mels, long dftLength, long sampleRate, float lower, float upper, long[] declared, ElementType type = ElementType.Float32)
    {
        var o = new KernelOracle();
        o.Op("MelWeightMatrix", [o.Input(Int64(mels)), o.Input(Int64(dftLength)), o.Input(Int64(sampleRate)),
                o.Input(TensorData.Scalar(ElementType.Float32, lower)), o.Input(TensorData.Scalar(ElementType.Float32, upper))],
            [Int("output_datatype", (long)type)], declared: [new TensorType(type, Shape.Of(declared))]);
        return o;
    }

    [Fact]
    public void MelWeightMatrices()
    {
        MelWeights(8, 16, 8192, 0, 4096, [9, 8]).Check();
        MelWeights(10, 64, 16000, 100, 7000, [33, 10]).Check();
        MelWeights(3, 9, 1000, 20, 480, [5, 3], ElementType.Float64).Check();
    }

    [Fact]
    public void MelWeightOperandsMustGiveTheCompiledShape()
    {
        MelWeights(8, 16, 8192, 0, 4096, [9, 7]).CheckFails("give a [9,8] matrix at run time, but the result was compiled for [9,7]");
        MelWeights(8, 16, 8192, 0, 9000, [9, 8]).CheckFails("outside the spectrum");
    }
}
