using Kiln.Runtime;
using Kiln.Runtime.Numerics;

namespace Kiln.Ir;

/// <summary>
/// The small float formats (float8 e4m3fn, e4m3fnuz, e5m2, e5m2fnuz, e8m0, float4 e2m1) for host
/// tensors, which hold them as raw bit patterns one per byte. The codecs are the runtime's
/// (<see cref="SmallFloatFormat"/>, <see cref="E8M0"/>), so the reference evaluator and the
/// compiled kernels round identically. Thread-safe.
/// </summary>
public static class SmallFloat
{
    private static readonly SmallFloatFormat E4M3FN = SmallFloatFormat.For(DType.Float8E4M3FN)!;
    private static readonly SmallFloatFormat E4M3FNUZ = SmallFloatFormat.For(DType.Float8E4M3FNUZ)!;
    private static readonly SmallFloatFormat E5M2 = SmallFloatFormat.For(DType.Float8E5M2)!;
    private static readonly SmallFloatFormat E5M2FNUZ = SmallFloatFormat.For(DType.Float8E5M2FNUZ)!;
    private static readonly SmallFloatFormat E2M1 = SmallFloatFormat.For(DType.Float4E2M1)!;

    private static SmallFloatFormat Get(ElementType t) => t switch
    {
        ElementType.Float8E4M3FN => E4M3FN,
        ElementType.Float8E4M3FNUZ => E4M3FNUZ,
        ElementType.Float8E5M2 => E5M2,
        ElementType.Float8E5M2FNUZ => E5M2FNUZ,
        ElementType.Float4E2M1 => E2M1,
        _ => throw new ArgumentException($"{t} is not a small float format"),
    };

    /// <summary>Decodes a bit pattern of a small float type (including f8e8m0) to float.</summary>
    public static float ToFloat(byte bits, ElementType type) =>
        type == ElementType.Float8E8M0 ? Kiln.Runtime.Numerics.E8M0.Decode(bits) : Get(type).Decode(bits);

    /// <summary>Encodes a float with round-to-nearest-even and ONNX Cast's saturation rules (e8m0 rounds up).</summary>
    public static byte FromFloat(float x, ElementType type, bool saturate = true) =>
        type == ElementType.Float8E8M0 ? Kiln.Runtime.Numerics.E8M0.Encode(x, E8M0Rounding.Up, saturate) : Get(type).Encode(x, saturate);

    /// <summary>Encodes to float8 e8m0 with a rounding mode.</summary>
    public static byte FromFloatE8M0(float x, E8M0Rounding rounding, bool saturate) => Kiln.Runtime.Numerics.E8M0.Encode(x, rounding, saturate);
}
