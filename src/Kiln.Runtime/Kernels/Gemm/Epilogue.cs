using System.Numerics;
using System.Runtime.CompilerServices;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Gemm;

/// <summary>What one epilogue stage does to a result value v.</summary>
public enum EpilogueOp : byte
{
    /// <summary>v *= P0 (Gemm's alpha).</summary>
    Scale = 1,
    /// <summary>v += P0 · operand (P0 is 1 for a bias or residual, beta for Gemm's C).</summary>
    Add = 2,
    /// <summary>v *= operand (a per-channel scale, a squeeze-excite gate).</summary>
    Multiply = 3,
    /// <summary>v &lt; 0 ? 0 : v.</summary>
    Relu = 4,
    /// <summary>min(max(v, P0), P1) (Clip, Relu6).</summary>
    Clip = 5,
    /// <summary>v &lt; 0 ? P0 · v : v.</summary>
    LeakyRelu = 6,
    /// <summary>clamp(P0 · v + P1, 0, 1).</summary>
    HardSigmoid = 7,
    /// <summary>v · clamp(v / 6 + 1/2, 0, 1).</summary>
    HardSwish = 8,
}

/// <summary>One stage of an epilogue; P0 and P1 are the op's parameters (see <see cref="EpilogueOp"/>).</summary>
public readonly record struct EpilogueStage(EpilogueOp Op, float P0 = 0, float P1 = 0)
{
    public bool HasOperand => Op is EpilogueOp.Add or EpilogueOp.Multiply;
    public override string ToString() => Op switch
    {
        EpilogueOp.Scale or EpilogueOp.LeakyRelu => $"{Op.ToString().ToLowerInvariant()}({P0:R})",
        EpilogueOp.Add => P0 == 1 ? "add" : $"add({P0:R}x)",
        EpilogueOp.Clip or EpilogueOp.HardSigmoid => $"{Op.ToString().ToLowerInvariant()}({P0:R}, {P1:R})",
        _ => Op.ToString().ToLowerInvariant(),
    };
}

/// <summary>
/// The elementwise work a GEMM-based kernel (matrix product, convolution) applies to its results
/// while they are still in cache: a short list of stages run in order on every value — scaling,
/// adding or multiplying by an operand tensor (bias, residual, Gemm's C, per-channel scales),
/// activations. A fusion pass attaches Add/Relu/Clip/... that follow a convolution here instead of
/// running them as separate kernels.
/// <para>
/// Results are seen as [batch, row, column] (a convolution: image, output channel, pixel; a
/// matrix product: batch index, row, column). Each Add/Multiply stage reads the next operand
/// binding, located by three push constants: its element strides along batch, row and column
/// (column stride 0 or 1), so one scheme covers a per-channel bias (0, 1, 0), a residual of the
/// result's shape, Gemm's C broadcast from [N], [M, 1] or a scalar.
/// </para>
/// Encoding (inside a kernel descriptor): <c>u8 stage count · per stage: u8 op · f32 P0 · f32 P1</c>.
/// Immutable; thread-safe.
/// </summary>
public sealed unsafe class Epilogue
{
    public const int MaxStages = 16;
    public const int ConstantsPerOperand = 3;

    private readonly EpilogueStage[] _stages;

    public Epilogue(IEnumerable<EpilogueStage> stages)
    {
        _stages = stages.ToArray();
        if (_stages.Length > MaxStages) throw new ArgumentException($"an epilogue has at most {MaxStages} stages");
        foreach (var s in _stages)
            if (s.HasOperand) OperandCount++;
    }

    public IReadOnlyList<EpilogueStage> Stages => _stages;
    public int OperandCount { get; }
    public bool IsEmpty => _stages.Length == 0;

    public void Encode(List<byte> output)
    {
        output.Add((byte)_stages.Length);
        Span<byte> f = stackalloc byte[4];
        foreach (var s in _stages)
        {
            output.Add((byte)s.Op);
            System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(f, s.P0);
            output.AddRange(f);
            System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(f, s.P1);
            output.AddRange(f);
        }
    }

    public static Epilogue Decode(ref DescriptorReader r)
    {
        int count = r.U8();
        if (count > MaxStages) throw r.Invalid($"epilogue has {count} stages, at most {MaxStages} allowed");
        var stages = new EpilogueStage[count];
        for (int i = 0; i < count; i++)
        {
            var op = (EpilogueOp)r.U8();
            if (op is < EpilogueOp.Scale or > EpilogueOp.HardSwish) throw r.Invalid($"unknown epilogue op {(byte)op}");
            float p0 = BitConverter.Int32BitsToSingle((int)r.U32()), p1 = BitConverter.Int32BitsToSingle((int)r.U32());
            stages[i] = new EpilogueStage(op, p0, p1);
        }
        return new Epilogue(stages);
    }

    public override string ToString() => _stages.Length == 0 ? "none" : string.Join(" · ", _stages);

    /// <summary>
    /// Checks that every operand binding holds what its strides reach over a result of
    /// [batches, rows, columns]. Operand k is binding <paramref name="firstBinding"/> + k with strides at
    /// push constants <paramref name="firstConstant"/> + 3k.
    /// </summary>
    public void Validate(in DispatchState d, int firstBinding, int firstConstant, long batches, long rows, long columns)
    {
        if (batches == 0 || rows == 0 || columns == 0) return;
        for (int k = 0; k < OperandCount; k++)
        {
            long bs = d.Constant(firstConstant + 3 * k), rs = d.Constant(firstConstant + 3 * k + 1), cs = d.Constant(firstConstant + 3 * k + 2);
            if (bs < 0 || rs < 0 || cs is not (0 or 1)) throw OutOfRange($"epilogue operand {k} has invalid strides ({bs}, {rs}, {cs})");
            long last;
            try { last = checked((batches - 1) * bs + (rows - 1) * rs + (columns - 1) * cs); }
            catch (OverflowException) { throw OutOfRange($"epilogue operand {k}: strides overflow"); }
            if (last >= d.Binding(firstBinding + k).Length / sizeof(float))
                throw OutOfRange($"epilogue operand {k} reaches element {last}, outside its binding of {d.Binding(firstBinding + k).Length} bytes");
        }
    }

    private static KilnRuntimeException OutOfRange(string message) => new(StatusCode.OutOfRange, message);

    /// <summary>
    /// Applies the stages to a block of results: <paramref name="rows"/> × <paramref name="columns"/>
    /// values at <paramref name="c"/> (row stride <paramref name="ldc"/>) that are the results at
    /// (batch, row0 + i, column0 + j).
    /// </summary>
    public void Apply(in DispatchState d, int firstBinding, int firstConstant, long batch, long row0, long column0, int rows, int columns, float* c, long ldc)
    {
        if (_stages.Length == 0) return;
        for (int i = 0; i < rows; i++)
        {
            float* y = c + i * ldc;
            int operand = 0;
            foreach (var s in _stages)
            {
                float* source = null;
                long cs = 0;
                if (s.HasOperand)
                {
                    int k = operand++;
                    long bs = d.Constant(firstConstant + 3 * k), rs = d.Constant(firstConstant + 3 * k + 1);
                    cs = d.Constant(firstConstant + 3 * k + 2);
                    source = (float*)d.Binding(firstBinding + k).Data + batch * bs + (row0 + i) * rs + column0 * cs;
                }
                switch (s.Op)
                {
                    case EpilogueOp.Scale: Map(y, columns, new ScaleOp(s.P0)); break;
                    case EpilogueOp.Add:
                        if (cs == 0) Map(y, columns, new AddConstantOp(s.P0 * *source));
                        else Map(y, source, columns, new AddScaledOp(s.P0));
                        break;
                    case EpilogueOp.Multiply:
                        if (cs == 0) Map(y, columns, new ScaleOp(*source));
                        else Map(y, source, columns, new MultiplyOp());
                        break;
                    case EpilogueOp.Relu: Map(y, columns, new ClipOp(0f, float.PositiveInfinity)); break;
                    case EpilogueOp.Clip: Map(y, columns, new ClipOp(s.P0, s.P1)); break;
                    case EpilogueOp.LeakyRelu: Map(y, columns, new LeakyReluOp(s.P0)); break;
                    case EpilogueOp.HardSigmoid: Map(y, columns, new HardSigmoidOp(s.P0, s.P1)); break;
                    case EpilogueOp.HardSwish: Map(y, columns, new HardSwishOp()); break;
                }
            }
        }
    }

    private interface IUnary
    {
        float Invoke(float v);
        Vector<float> Invoke(Vector<float> v);
    }

    private interface IBinary
    {
        float Invoke(float v, float x);
        Vector<float> Invoke(Vector<float> v, Vector<float> x);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Map<TOp>(float* y, int n, TOp op) where TOp : struct, IUnary
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
            for (; i <= n - Vector<float>.Count; i += Vector<float>.Count)
                op.Invoke(Vector.Load(y + i)).Store(y + i);
        for (; i < n; i++) y[i] = op.Invoke(y[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Map<TOp>(float* y, float* x, int n, TOp op) where TOp : struct, IBinary
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
            for (; i <= n - Vector<float>.Count; i += Vector<float>.Count)
                op.Invoke(Vector.Load(y + i), Vector.Load(x + i)).Store(y + i);
        for (; i < n; i++) y[i] = op.Invoke(y[i], x[i]);
    }

    private readonly struct ScaleOp(float scale) : IUnary
    {
        public float Invoke(float v) => v * scale;
        public Vector<float> Invoke(Vector<float> v) => v * scale;
    }

    private readonly struct AddConstantOp(float value) : IUnary
    {
        public float Invoke(float v) => v + value;
        public Vector<float> Invoke(Vector<float> v) => v + new Vector<float>(value);
    }

    private readonly struct AddScaledOp(float scale) : IBinary
    {
        public float Invoke(float v, float x) => v + scale * x;
        public Vector<float> Invoke(Vector<float> v, Vector<float> x) => v + x * scale;
    }

    private readonly struct MultiplyOp : IBinary
    {
        public float Invoke(float v, float x) => v * x;
        public Vector<float> Invoke(Vector<float> v, Vector<float> x) => v * x;
    }

    /// <summary>v &lt; lo ? lo : v, then v &gt; hi ? hi : v: NaN stays NaN, and hi wins when lo &gt; hi (ONNX Clip).</summary>
    private readonly struct ClipOp(float lo, float hi) : IUnary
    {
        public float Invoke(float v)
        {
            if (v < lo) v = lo;
            return v > hi ? hi : v;
        }

        public Vector<float> Invoke(Vector<float> v)
        {
            var l = new Vector<float>(lo);
            var h = new Vector<float>(hi);
            v = Vector.ConditionalSelect(Vector.LessThan(v, l), l, v);
            return Vector.ConditionalSelect(Vector.GreaterThan(v, h), h, v);
        }
    }

    private readonly struct LeakyReluOp(float alpha) : IUnary
    {
        public float Invoke(float v) => v < 0 ? alpha * v : v;
        public Vector<float> Invoke(Vector<float> v) => Vector.ConditionalSelect(Vector.LessThan(v, Vector<float>.Zero), v * alpha, v);
    }

    private readonly struct HardSigmoidOp(float alpha, float beta) : IUnary
    {
        public float Invoke(float v) => Math.Clamp(alpha * v + beta, 0f, 1f);
        public Vector<float> Invoke(Vector<float> v) => Vector.Min(Vector.Max(v * alpha + new Vector<float>(beta), Vector<float>.Zero), Vector<float>.One);
    }

    private readonly struct HardSwishOp : IUnary
    {
        public float Invoke(float v) => v * Math.Clamp(v / 6 + 0.5f, 0f, 1f);
        public Vector<float> Invoke(Vector<float> v) =>
            v * Vector.Min(Vector.Max(v / new Vector<float>(6f) + new Vector<float>(0.5f), Vector<float>.Zero), Vector<float>.One);
    }
}
