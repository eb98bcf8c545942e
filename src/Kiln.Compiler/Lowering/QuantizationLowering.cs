using Kiln.Compiler.Lowering.Elementwise;
using Kiln.Ir;
using Kiln.Runtime.Kernels.Elementwise;

namespace Kiln.Compiler.Lowering;

/// <summary>
/// QuantizeLinear and DequantizeLinear as elementwise programs. The scale and zero point are read
/// through strided views: per tensor (all strides 0), per axis (stride 1 along the axis), or blocked
/// (the axis split into [blocks, block size], the scale stepping once per block).
/// </summary>
[Lowerings]
public static class QuantizationLowering
{
    public static void Register(LoweringRegistry r)
    {
        r.Add("QuantizeLinear", ctx => Lower(ctx, quantize: true));
        r.Add("DequantizeLinear", ctx => Lower(ctx, quantize: false));
    }

    private static void Lower(LoweringContext ctx, bool quantize)
    {
        var x = ctx.Input(0);
        var scale = ctx.Input(1);
        var zero = ctx.OptionalInput(2);
        var y = ctx.NewOutput(0);
        int rank = x.Rank;
        long axisAttr = ctx.Op.GetInt("axis", 1);
        int axis = rank == 0 ? 0 : (int)(axisAttr < 0 ? axisAttr + rank : axisAttr);
        long blockSize = ctx.Op.GetInt("block_size", 0);

        // The iteration space: x's shape, with the axis split in two for blocked quantization.
        Dim[] shape = x.Shape;
        var xStrides = Layout.ContiguousStrides(x.Shape);
        Dim[] parameterStrides;
        bool perTensor = scale.Rank == 0 || (scale.Rank == 1 && scale.Shape[0].TryGetValue(out long n) && n == 1 && blockSize == 0);
        if (perTensor) parameterStrides = new Dim[rank]; // default(Dim) is the size 0: broadcast everywhere
        else if (blockSize == 0)
        {
            if (scale.Rank != 1) throw ctx.Unsupported($"a scale of rank {scale.Rank} without block_size");
            parameterStrides = new Dim[rank];
            parameterStrides[axis] = 1;
        }
        else
        {
            if (scale.Rank != rank) throw ctx.Unsupported($"blocked quantization with a scale of rank {scale.Rank}");
            if (!x.Shape[axis].TryGetValue(out long d) || d % blockSize != 0) throw ctx.Unsupported($"blocks of {blockSize} that do not divide the axis size {x.Shape[axis]}");
            var s = Layout.ContiguousStrides(scale.Shape);
            shape = [.. x.Shape[..axis], d / blockSize, blockSize, .. x.Shape[(axis + 1)..]];
            xStrides = [.. xStrides[..axis], xStrides[axis] * blockSize, xStrides[axis], .. xStrides[(axis + 1)..]];
            parameterStrides = [.. s[..axis], s[axis], 0, .. s[(axis + 1)..]];
        }
        var yStrides = blockSize == 0 ? Layout.ContiguousStrides(y.Shape) : xStrides;

        var b = new ProgramBuilder(shape.Length);
        var et = (ElementType)(byte)x.DType;
        var views = new List<StridedView> { new(x, 0, xStrides), new(scale, 0, parameterStrides) };
        var xr = b.LoadNewInput(et);
        var sr = b.LoadNewInput((ElementType)(byte)scale.DType);
        Reg? zr = null;
        if (zero is not null) { zr = b.LoadNewInput((ElementType)(byte)zero.DType); views.Add(new StridedView(zero, 0, parameterStrides)); }
        var outType = ctx.OutputElementType(0);
        Reg result = quantize ? Quantize(ctx, b, xr, sr, zr, outType) : Dequantize(b, xr, sr, zr, outType);
        b.StoreNewOutput(result, outType);
        StridedCopy.Dispatch(ctx, b, shape, views, [new StridedView(y, 0, yStrides)]);
    }

    /// <summary>The float type x / scale is computed in: the wider of the two (double for float64 and int32), or 'precision'.</summary>
    private static ElementType Precision(LoweringContext ctx, ElementType x, ElementType scale)
    {
        long declared = ctx.Op.GetInt("precision", 0);
        if (declared != 0) return (ElementType)declared;
        static int Rank(ElementType t) => t switch { ElementType.Float64 or ElementType.Int32 => 3, ElementType.Float32 => 2, _ => 1 };
        return Rank(x) == 3 || Rank(scale) == 3 ? ElementType.Float64 : Rank(x) == 2 || Rank(scale) == 2 ? ElementType.Float32 : x;
    }

    private static Reg Quantize(LoweringContext ctx, ProgramBuilder b, Reg x, Reg scale, Reg? zero, ElementType to)
    {
        var p = Precision(ctx, x.Element, scale.Element);
        var q = b.Convert(b.Binary(EwOp.Div, b.Convert(x, p), b.Convert(scale, p)), p);
        if (to.IsFloat())
        {
            var sum = zero is { } z ? b.Binary(EwOp.Add, q, b.Convert(z, p)) : q;
            return b.Convert(sum, to, ctx.Op.GetInt("saturate", 1) != 0);
        }
        var wide = p == ElementType.Float64 ? q : b.Convert(q, ElementType.Float64);
        var rounded = b.Unary(EwOp.Round, wide);
        if (zero is { } zp) rounded = b.Binary(EwOp.Add, rounded, b.Convert(zp, ElementType.Float64));
        var (lo, hi) = Range(to);
        var clamped = b.Binary(EwOp.Min, b.Binary(EwOp.Max, rounded, b.Float(lo, ElementType.Float64)), b.Float(hi, ElementType.Float64));
        return b.Convert(clamped, to);
    }

    private static Reg Dequantize(ProgramBuilder b, Reg x, Reg scale, Reg? zero, ElementType to)
    {
        var shifted = b.Convert(x, to);
        if (zero is { } z) shifted = b.Convert(b.Binary(EwOp.Sub, shifted, b.Convert(z, to)), to);
        return b.Convert(b.Binary(EwOp.Mul, shifted, b.Convert(scale, to)), to);
    }

    private static (double Lo, double Hi) Range(ElementType t) => t switch
    {
        ElementType.Int8 => (sbyte.MinValue, sbyte.MaxValue),
        ElementType.UInt8 => (0, byte.MaxValue),
        ElementType.Int16 => (short.MinValue, short.MaxValue),
        ElementType.UInt16 => (0, ushort.MaxValue),
        ElementType.Int32 => (int.MinValue, int.MaxValue),
        ElementType.UInt32 => (0, uint.MaxValue),
        ElementType.Int4 => (-8, 7),
        ElementType.UInt4 => (0, 15),
        ElementType.Int2 => (-2, 1),
        ElementType.UInt2 => (0, 3),
        _ => throw new KilnException(ErrorCode.Unsupported, $"cannot quantize to {t.OnnxName()}"),
    };
}
