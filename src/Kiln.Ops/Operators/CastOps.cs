using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Cast and CastLike (value conversion with ONNX's rules, see <see cref="Conversions"/>) and
/// BitCast (reinterpreting the bits of each element as another type of the same width).
/// Integer-to-integer casts keep shape values, so shape arithmetic done in int32 stays precise.
/// </summary>
[OpFamily]
public static class CastOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(new CastDefinition("Cast"));
        r.Add(new CastDefinition("CastLike"));
        r.Add(new BitCastDefinition());
    }

    /// <summary>The element type named by the 'to' attribute; complex types are not supported.</summary>
    private static ElementType TargetType(Operation op)
    {
        long code = op.GetInt("to");
        if (!ElementTypes.IsDefined((int)code) || code != (int)code)
            throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: 'to' is not an element type code: {code}");
        var to = (ElementType)code;
        if (to.IsComplex()) throw new KilnException(ErrorCode.Unsupported, $"{op.Describe()}: conversion to {to.OnnxName()} is not supported");
        return to;
    }

    private static Kiln.Runtime.Numerics.E8M0Rounding RoundMode(Operation op) => op.GetString("round_mode", "up") switch
    {
        "up" => Kiln.Runtime.Numerics.E8M0Rounding.Up,
        "down" => Kiln.Runtime.Numerics.E8M0Rounding.Down,
        "nearest" => Kiln.Runtime.Numerics.E8M0Rounding.Nearest,
        var other => throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: round_mode must be up, down or nearest, got '{other}'"),
    };

    /// <summary>Cast(x) to the 'to' attribute's type, or CastLike(x, target) to the target's element type.</summary>
    private sealed class CastDefinition(string opType) : OpDefinition
    {
        public override string OpType => opType;
        public override int MinInputs => opType == "CastLike" ? 2 : 1;

        private ElementType Target(Operation op, Func<int, ElementType> inputType) =>
            opType == "CastLike" ? inputType(1) : TargetType(op);

        public override void InferTypes(InferenceContext ctx)
        {
            var from = ctx.InputElementType(0);
            var to = Target(ctx.Op, ctx.InputElementType);
            if (from.IsComplex() || to.IsComplex())
                throw ctx.TypeError($"conversion from {from.OnnxName()} to {to.OnnxName()} is not supported");
            RoundMode(ctx.Op);
            ctx.SetOutput(0, to, ctx.InputShape(0));
            if ((from.IsInteger() || from == ElementType.Bool) && to.IsInteger() && ctx.InputShapeValue(0) is { } values)
                ctx.SetOutputShapeValue(0, values);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var to = Target(ctx.Op, i => ctx.Tensor(i).ElementType);
            bool saturate = ctx.Op.GetInt("saturate", 1) != 0;
            ctx.SetOutput(0, Conversions.Convert(x, to, saturate, RoundMode(ctx.Op)));
        }
    }

    /// <summary>BitCast(x): the same bits read as the 'to' type, which must have the input type's width.</summary>
    private sealed class BitCastDefinition : OpDefinition
    {
        public override string OpType => "BitCast";

        public override void InferTypes(InferenceContext ctx)
        {
            var from = ctx.InputElementType(0);
            var to = TargetType(ctx.Op);
            if (from == ElementType.String || to == ElementType.String || from.BitWidth() != to.BitWidth())
                throw ctx.TypeError($"cannot reinterpret {from.OnnxName()} as {to.OnnxName()}: BitCast needs two non-string types of the same width");
            ctx.SetOutput(0, to, ctx.InputShape(0));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var to = TargetType(ctx.Op);
            if (x.ElementType == ElementType.String || to == ElementType.String || x.ElementType.BitWidth() != to.BitWidth())
                throw ctx.Error($"cannot reinterpret {x.ElementType.OnnxName()} as {to.OnnxName()}");
            int width = to.BitWidth();
            if (width >= 8) { ctx.SetOutput(0, TensorData.FromBytes(to, x.Shape, x.AsBytes())); return; }

            // Sub-byte types are held one element per byte: move the low bits, sign-extending for signed targets.
            var result = TensorData.Zeros(to, x.Shape);
            var src = x.AsBytes();
            var dst = result.RawBytes();
            int mask = (1 << width) - 1, signBit = 1 << (width - 1);
            for (int i = 0; i < dst.Length; i++)
            {
                int bits = src[i] & mask;
                dst[i] = (byte)(to.IsSignedInteger() && (bits & signBit) != 0 ? bits - (1 << width) : bits);
            }
            ctx.SetOutput(0, result);
        }
    }
}
