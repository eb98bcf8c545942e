using Kiln.Ir;
using Kiln.Runtime.Kernels.Elementwise;

namespace Kiln.Compiler.Lowering.Elementwise;

/// <summary>What an emitter sees: the builder, the operation, its operands as registers (null when absent), the result element types.</summary>
public sealed class EmitContext(ProgramBuilder builder, Operation op, Reg?[] inputs)
{
    public ProgramBuilder B { get; } = builder;
    public Operation Op { get; } = op;
    public IReadOnlyList<Reg?> Inputs { get; } = inputs;
    public Reg In(int i) => Inputs[i] ?? throw new KilnException(ErrorCode.InvalidModel, $"{Op.Describe()}: input {i} is missing");
    public ElementType OutputType(int i = 0) => Op.Output(i).TensorType.ElementType;
    public float Attr(string name, float defaultValue) => Op.GetFloat(name, defaultValue);
    public KilnException Unsupported(string why) => new(ErrorCode.UnsupportedOperator, $"{Op.Describe()}: not supported by the compiled path: {why}");
}

/// <summary>Computes an elementwise operator's results from its operand registers.</summary>
public delegate Reg[] Emitter(EmitContext e);

/// <summary>
/// The ONNX elementwise operators as kernel-IR emitters: each maps its operands to instructions of
/// an elementwise program. One operator alone becomes one kernel; a fusion pass can chain emitters
/// into a single program. Float-only operators see F32 or F64 registers; integer semantics follow
/// the element type (unsigned variants for uint64, whose values do not fit a signed compare).
/// </summary>
public static class ElementwiseEmitters
{
    public static IReadOnlyDictionary<string, Emitter> All { get; } = Build();

    /// <summary>Operands that only supply a type (CastLike's target): not loaded, never broadcast.</summary>
    public static bool IsTypeOnly(string opType, int input) => opType == "CastLike" && input == 1;

    private static Dictionary<string, Emitter> Build()
    {
        var d = new Dictionary<string, Emitter>(StringComparer.Ordinal);
        void Unary(string name, EwOp op, bool floatOnly = true) => d[name] = e =>
        {
            var x = e.In(0);
            if (floatOnly && x.Type == ComputeType.I64) throw e.Unsupported($"{name} on {x.Element.OnnxName()}");
            return [e.B.Unary(op, x)];
        };
        void Binary(string name, EwOp signed, EwOp unsigned) => d[name] = e =>
        {
            var a = e.In(0);
            return [e.B.Binary(a.Element == ElementType.UInt64 ? unsigned : signed, a, e.In(1))];
        };

        foreach (var (name, op) in new[]
        {
            ("Exp", EwOp.Exp), ("Log", EwOp.Log), ("Sqrt", EwOp.Sqrt), ("Sin", EwOp.Sin), ("Cos", EwOp.Cos), ("Tan", EwOp.Tan),
            ("Asin", EwOp.Asin), ("Acos", EwOp.Acos), ("Atan", EwOp.Atan), ("Sinh", EwOp.Sinh), ("Cosh", EwOp.Cosh), ("Tanh", EwOp.Tanh),
            ("Asinh", EwOp.Asinh), ("Acosh", EwOp.Acosh), ("Atanh", EwOp.Atanh), ("Erf", EwOp.Erf), ("Floor", EwOp.Floor),
            ("Ceil", EwOp.Ceil), ("Round", EwOp.Round), ("Reciprocal", EwOp.Reciprocal), ("Sigmoid", EwOp.Sigmoid),
        })
            Unary(name, op);
        Unary("Neg", EwOp.Neg, floatOnly: false);
        // uint64 values above 2^63 are negative as I64: their absolute value is themselves, their sign 1.
        d["Abs"] = e => [e.In(0).Element == ElementType.UInt64 ? e.In(0) : e.B.Unary(EwOp.Abs, e.In(0))];
        d["Sign"] = e => [e.In(0) is { Element: ElementType.UInt64 } u ? e.B.Binary(EwOp.Ne, u, e.B.Like(u, 0)) with { Element = u.Element } : e.B.Unary(EwOp.Sign, e.In(0))];
        Unary("BitwiseNot", EwOp.BitNot, floatOnly: false);
        d["Not"] = e => [e.B.Unary(EwOp.Not, e.In(0))];
        d["IsNaN"] = e => [e.B.Unary(EwOp.IsNaN, e.In(0))];
        d["IsInf"] = e => [e.B.Unary(EwOp.IsInf, e.In(0),
            (byte)((e.Op.GetInt("detect_positive", 1) != 0 ? 1 : 0) | (e.Op.GetInt("detect_negative", 1) != 0 ? 2 : 0)))];

        Binary("Add", EwOp.Add, EwOp.Add);
        Binary("Sub", EwOp.Sub, EwOp.Sub);
        Binary("Mul", EwOp.Mul, EwOp.Mul);
        Binary("Div", EwOp.Div, EwOp.DivU);
        Binary("BitwiseAnd", EwOp.BitAnd, EwOp.BitAnd);
        Binary("BitwiseOr", EwOp.BitOr, EwOp.BitOr);
        Binary("BitwiseXor", EwOp.BitXor, EwOp.BitXor);
        Binary("And", EwOp.BitAnd, EwOp.BitAnd);
        Binary("Or", EwOp.BitOr, EwOp.BitOr);
        Binary("Xor", EwOp.BitXor, EwOp.BitXor);
        Binary("Equal", EwOp.Eq, EwOp.Eq);
        Binary("Less", EwOp.Lt, EwOp.LtU);
        Binary("LessOrEqual", EwOp.Le, EwOp.LeU);
        d["Greater"] = e => [e.B.Binary(e.In(0).Element == ElementType.UInt64 ? EwOp.LtU : EwOp.Lt, e.In(1), e.In(0))];
        d["GreaterOrEqual"] = e => [e.B.Binary(e.In(0).Element == ElementType.UInt64 ? EwOp.LeU : EwOp.Le, e.In(1), e.In(0))];
        d["BitShift"] = e => [e.B.Binary(e.Op.GetString("direction") == "LEFT" ? EwOp.Shl : EwOp.ShrU, e.In(0), e.In(1))];
        d["Mod"] = e =>
        {
            var a = e.In(0);
            bool fmod = e.Op.GetInt("fmod", 0) != 0;
            var op = a.Type != ComputeType.I64 ? EwOp.Mod : a.Element == ElementType.UInt64 ? EwOp.ModU : fmod ? EwOp.FMod : EwOp.Mod;
            return [e.B.Binary(op, a, e.In(1))];
        };
        d["Pow"] = e =>
        {
            var x = e.In(0);
            var y = e.In(1);
            if (x.Type == ComputeType.I64 && y.Type == ComputeType.I64) return [e.B.Binary(EwOp.Pow, x, y with { Element = x.Element })];
            if (x.Type == ComputeType.I64)
            {
                // Integer base, float exponent: compute in double, truncate to the base's type.
                var xd = e.B.Convert(x, ElementType.Float64);
                var p = e.B.Binary(EwOp.Pow, xd, e.B.Convert(y, ElementType.Float64));
                return [e.B.Convert(p, x.Element)];
            }
            return [e.B.Binary(EwOp.Pow, x, e.B.Convert(y, x.Element))];
        };
        d["Max"] = e => [Fold(e, (a, b) => e.B.Binary(a.Element == ElementType.UInt64 ? EwOp.MaxU : EwOp.Max, a, b))];
        d["Min"] = e => [Fold(e, (a, b) => e.B.Binary(a.Element == ElementType.UInt64 ? EwOp.MinU : EwOp.Min, a, b))];
        d["Sum"] = e => [Fold(e, (a, b) => e.B.Binary(EwOp.Add, a, b))];
        d["Mean"] = e =>
        {
            var sum = Fold(e, (a, b) => e.B.Binary(EwOp.Add, a, b));
            return [e.B.Binary(EwOp.Div, sum, e.B.Like(sum, e.Inputs.Count(x => x is not null)))];
        };
        d["Where"] = e => [e.B.Select(e.In(0), e.In(1), e.In(2))];
        d["Cast"] = e => [Cast(e)];
        d["CastLike"] = e => [Cast(e)];
        d["Clip"] = e =>
        {
            var x = e.In(0);
            if (e.Inputs.Count > 1 && e.Inputs[1] is { } lo) x = e.B.Binary(x.Element == ElementType.UInt64 ? EwOp.MaxU : EwOp.Max, x, lo);
            if (e.Inputs.Count > 2 && e.Inputs[2] is { } hi) x = e.B.Binary(x.Element == ElementType.UInt64 ? EwOp.MinU : EwOp.Min, x, hi);
            return [x];
        };

        // Activations, written as the formulas of the ONNX specification.
        d["Relu"] = e => [e.B.Binary(EwOp.Max, e.In(0), e.B.Like(e.In(0), 0))];
        d["LeakyRelu"] = e =>
        {
            var x = e.In(0);
            return [e.B.Select(e.B.Binary(EwOp.Lt, x, e.B.Like(x, 0)), e.B.Binary(EwOp.Mul, x, e.B.Like(x, e.Attr("alpha", 0.01f))), x)];
        };
        d["PRelu"] = e =>
        {
            var x = e.In(0);
            return [e.B.Select(e.B.Binary(EwOp.Lt, x, e.B.Like(x, 0)), e.B.Binary(EwOp.Mul, x, e.In(1)), x)];
        };
        d["Elu"] = e =>
        {
            var x = e.In(0);
            var neg = e.B.Binary(EwOp.Mul, e.B.Like(x, e.Attr("alpha", 1f)), e.B.Binary(EwOp.Sub, e.B.Unary(EwOp.Exp, x), e.B.Like(x, 1)));
            return [e.B.Select(e.B.Binary(EwOp.Lt, x, e.B.Like(x, 0)), neg, x)];
        };
        d["Selu"] = e =>
        {
            var x = e.In(0);
            var alpha = e.B.Like(x, e.Attr("alpha", 1.67326319217681884765625f));
            var gamma = e.B.Like(x, e.Attr("gamma", 1.05070102214813232421875f));
            var neg = e.B.Binary(EwOp.Sub, e.B.Binary(EwOp.Mul, alpha, e.B.Unary(EwOp.Exp, x)), alpha);
            return [e.B.Binary(EwOp.Mul, gamma, e.B.Select(e.B.Binary(EwOp.Le, x, e.B.Like(x, 0)), neg, x))];
        };
        d["Celu"] = e =>
        {
            var x = e.In(0);
            var alpha = e.B.Like(x, e.Attr("alpha", 1f));
            var neg = e.B.Binary(EwOp.Mul, alpha, e.B.Binary(EwOp.Sub, e.B.Unary(EwOp.Exp, e.B.Binary(EwOp.Div, x, alpha)), e.B.Like(x, 1)));
            return [e.B.Binary(EwOp.Add, e.B.Binary(EwOp.Max, x, e.B.Like(x, 0)), e.B.Binary(EwOp.Min, neg, e.B.Like(x, 0)))];
        };
        d["Gelu"] = e =>
        {
            var x = e.In(0);
            var half = e.B.Binary(EwOp.Mul, x, e.B.Like(x, 0.5));
            Reg inner;
            if (e.Op.GetString("approximate", "none") == "tanh")
            {
                var cube = e.B.Binary(EwOp.Mul, e.B.Binary(EwOp.Mul, x, x), x);
                var poly = e.B.MulAdd(cube, e.B.Like(x, 0.044715), x);
                inner = e.B.Unary(EwOp.Tanh, e.B.Binary(EwOp.Mul, poly, e.B.Like(x, Math.Sqrt(2 / Math.PI))));
            }
            else inner = e.B.Unary(EwOp.Erf, e.B.Binary(EwOp.Mul, x, e.B.Like(x, 1 / Math.Sqrt(2))));
            return [e.B.Binary(EwOp.Mul, half, e.B.Binary(EwOp.Add, inner, e.B.Like(x, 1)))];
        };
        d["HardSigmoid"] = e => [HardSigmoid(e.B, e.In(0), e.Attr("alpha", 0.2f), e.Attr("beta", 0.5f))];
        d["HardSwish"] = e => [e.B.Binary(EwOp.Mul, e.In(0), HardSigmoid(e.B, e.In(0), 1.0 / 6, 0.5))];
        d["Softplus"] = e => [Softplus(e.B, e.In(0))];
        d["Softsign"] = e =>
        {
            var x = e.In(0);
            return [e.B.Binary(EwOp.Div, x, e.B.Binary(EwOp.Add, e.B.Unary(EwOp.Abs, x), e.B.Like(x, 1)))];
        };
        d["Mish"] = e => [e.B.Binary(EwOp.Mul, e.In(0), e.B.Unary(EwOp.Tanh, Softplus(e.B, e.In(0))))];
        d["Swish"] = e =>
        {
            var x = e.In(0);
            return [e.B.Binary(EwOp.Mul, x, e.B.Unary(EwOp.Sigmoid, e.B.Binary(EwOp.Mul, x, e.B.Like(x, e.Attr("alpha", 1f)))))];
        };
        d["ThresholdedRelu"] = e =>
        {
            var x = e.In(0);
            return [e.B.Select(e.B.Binary(EwOp.Lt, e.B.Like(x, e.Attr("alpha", 1f)), x), x, e.B.Like(x, 0))];
        };
        d["Shrink"] = e =>
        {
            var x = e.In(0);
            var lambd = e.B.Like(x, e.Attr("lambd", 0.5f));
            var bias = e.B.Like(x, e.Attr("bias", 0f));
            var below = e.B.Binary(EwOp.Lt, x, e.B.Unary(EwOp.Neg, lambd));
            var above = e.B.Binary(EwOp.Lt, lambd, x);
            var inner = e.B.Select(above, e.B.Binary(EwOp.Sub, x, bias), e.B.Like(x, 0));
            return [e.B.Select(below, e.B.Binary(EwOp.Add, x, bias), inner)];
        };
        return d;
    }

    /// <summary>Cast and CastLike: saturate (float8 targets) and round_mode (float8 e8m0) attributes included.</summary>
    private static Reg Cast(EmitContext e)
    {
        byte rounding = e.Op.GetString("round_mode", "up") switch { "down" => 1, "nearest" => 2, _ => 0 };
        return e.B.Convert(e.In(0), e.OutputType(), e.Op.GetInt("saturate", 1) != 0, rounding);
    }

    private static Reg Fold(EmitContext e, Func<Reg, Reg, Reg> f)
    {
        Reg? acc = null;
        foreach (var r in e.Inputs)
            if (r is { } x) acc = acc is { } a ? f(a, x) : x;
        return acc ?? throw new KilnException(ErrorCode.InvalidModel, $"{e.Op.Describe()}: needs at least one input");
    }

    /// <summary>max(0, min(1, alpha·x + beta)).</summary>
    public static Reg HardSigmoid(ProgramBuilder b, Reg x, double alpha, double beta)
    {
        var lin = b.MulAdd(x, b.Like(x, alpha), b.Like(x, beta));
        return b.Binary(EwOp.Max, b.Binary(EwOp.Min, lin, b.Like(x, 1)), b.Like(x, 0));
    }

    /// <summary>log(1 + e^x) without overflow: max(x, 0) + log(1 + e^-|x|).</summary>
    public static Reg Softplus(ProgramBuilder b, Reg x)
    {
        var e = b.Unary(EwOp.Exp, b.Unary(EwOp.Neg, b.Unary(EwOp.Abs, x)));
        return b.Binary(EwOp.Add, b.Binary(EwOp.Max, x, b.Like(x, 0)), b.Unary(EwOp.Log, b.Binary(EwOp.Add, e, b.Like(x, 1))));
    }
}
