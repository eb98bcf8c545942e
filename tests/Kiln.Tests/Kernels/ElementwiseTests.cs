using Kiln.Ir;
using static Kiln.Tests.Kernels.KernelHarness;

namespace Kiln.Tests.Kernels;

/// <summary>
/// The elementwise kernel family (one op or a fused chain = one program of the kernel IR) on every
/// target: the portable interpreter and the IL renderer at every vector width. Each case runs over
/// every vector tail, empty tensors, broadcast and strided operands, against the reference evaluator
/// and (for IL) against the portable interpreter.
/// </summary>
public class ElementwiseTests
{
    private static readonly ElementType[] FloatTypes = [ElementType.Float32, ElementType.Float64];
    private static readonly ElementType[] IntegerTypes =
        [ElementType.Int8, ElementType.UInt8, ElementType.Int16, ElementType.UInt16, ElementType.Int32, ElementType.UInt32, ElementType.Int64, ElementType.UInt64];
    private static readonly ElementType[] NumericTypes = [.. FloatTypes, .. IntegerTypes];
    private static readonly ElementType[] AllTypes = [.. NumericTypes, ElementType.Float16, ElementType.BFloat16, ElementType.Bool];

    private static Dictionary<string, AttributeValue> Attrs(params (string Name, AttributeValue Value)[] a) => a.ToDictionary(x => x.Name, x => x.Value);

    /// <summary>Float operators with the input range where they are defined (and interesting).</summary>
    private static readonly (string Op, double Lo, double Hi, Dictionary<string, AttributeValue>? Attributes)[] FloatUnary =
    [
        ("Neg", -10, 10, null), ("Abs", -10, 10, null), ("Exp", -30, 30, null), ("Log", 1e-3, 100, null), ("Sqrt", 0, 100, null),
        ("Sin", -10, 10, null), ("Cos", -10, 10, null), ("Tan", -1.5, 1.5, null), ("Asin", -1, 1, null), ("Acos", -1, 1, null),
        ("Atan", -10, 10, null), ("Sinh", -5, 5, null), ("Cosh", -5, 5, null), ("Tanh", -5, 5, null), ("Asinh", -10, 10, null),
        ("Acosh", 1, 10, null), ("Atanh", -0.99, 0.99, null), ("Erf", -4, 4, null), ("Floor", -10, 10, null), ("Ceil", -10, 10, null),
        ("Round", -10, 10, null), ("Sign", -10, 10, null), ("Reciprocal", 0.1, 10, null), ("Sigmoid", -20, 20, null), ("Relu", -10, 10, null),
        ("LeakyRelu", -10, 10, Attrs(("alpha", AttributeValue.Float(0.1f)))), ("Elu", -5, 5, null), ("Selu", -5, 5, null), ("Celu", -5, 5, null),
        ("Gelu", -5, 5, null), ("Gelu", -5, 5, Attrs(("approximate", AttributeValue.String("tanh")))), ("HardSigmoid", -5, 5, null),
        ("HardSwish", -5, 5, null), ("Softplus", -10, 10, null), ("Softsign", -10, 10, null), ("Mish", -5, 5, null),
        ("ThresholdedRelu", -5, 5, null), ("Shrink", -2, 2, null), ("IsNaN", -10, 10, null), ("IsInf", -10, 10, null),
    ];

    /// <summary>NaN, infinities, signed zeros, halfway points and large magnitudes: checked against the portable kernel only.</summary>
    private static double Special(long i) => (i % 12) switch
    {
        0 => double.NaN, 1 => double.PositiveInfinity, 2 => double.NegativeInfinity, 3 => 0.0, 4 => -0.0,
        5 => 2.5, 6 => -2.5, 7 => 0.5, 8 => 1e30, 9 => -1e30, 10 => 1e-30, _ => i * 0.37 - 3,
    };

    [Theory]
    [MemberData(nameof(AllConfigurations), MemberType = typeof(KernelHarness))]
    public void FloatUnaryOperators(string configuration)
    {
        foreach (var (op, lo, hi, attributes) in FloatUnary)
            foreach (var t in FloatTypes)
            {
                Model Build() => Single(op, [(t, [N])], attributes);
                var sets = Lengths.Select(n => new[] { Make(t, [n], Random(n, lo, hi)) });
                Check(Build, configuration, sets, $"{op} {t}", rtol: t == ElementType.Float32 ? 2e-5 : 1e-12, atol: t == ElementType.Float32 ? 1e-6 : 1e-14);
                Check(Build, configuration, [[Make(t, [40], Special)]], $"{op} {t} (special values)", exactReference: false);
            }
    }

    [Theory]
    [MemberData(nameof(AllConfigurations), MemberType = typeof(KernelHarness))]
    public void IntegerUnaryOperators(string configuration)
    {
        foreach (var t in IntegerTypes)
            foreach (var op in IsSigned(t) ? new[] { "Neg", "Abs", "Sign", "BitwiseNot" } : ["Abs", "Sign", "BitwiseNot"])
            {
                var sets = Lengths.Take(20).Select(n => new[] { Make(t, [n], Random(n, -120, 120, integral: true)) });
                Check(() => Single(op, [(t, [N])]), configuration, sets, $"{op} {t}");
            }
        Check(() => Single("Not", [(ElementType.Bool, [N])]), configuration,
            Lengths.Select(n => new[] { Make(ElementType.Bool, [n], Random(n, 0, 1, integral: true)) }), "Not");
    }

    /// <summary>Operand shapes that broadcast in different ways (N is the varying length).</summary>
    private static readonly (Dim[] A, Dim[] B)[] BroadcastShapes =
    [
        ([N], [N]),                 // contiguous
        ([N], [1]),                 // B broadcast along the row (stride 0)
        ([1], [N]),
        ([3, N], [N]),              // B broadcast along an outer dimension
        ([N, 1], [1, 37]),          // rows of 37 with A broadcast along them, B along the outer dimension
        ([2, N, 3], [N, 1]),        // short rows, B broadcast along them
    ];

    private static readonly long[] BroadcastLengths = [0, 1, 2, 7, 8, 9, 16, 17, 33, 70];

    /// <summary>Operators of two operands and the element types ONNX defines them for (B values avoid 0 where it divides).</summary>
    private static IEnumerable<(string Op, ElementType[] Types, Dictionary<string, AttributeValue>? Attributes)> BinaryOperators()
    {
        yield return ("Add", NumericTypes, null);
        yield return ("Sub", NumericTypes, null);
        yield return ("Mul", NumericTypes, null);
        yield return ("Div", NumericTypes, null);
        yield return ("Mod", IntegerTypes, null);
        yield return ("Mod", NumericTypes, Attrs(("fmod", AttributeValue.Int(1))));
        yield return ("Min", NumericTypes, null);
        yield return ("Max", NumericTypes, null);
        yield return ("Pow", [ElementType.Float32, ElementType.Float64, ElementType.Int32, ElementType.Int64], null);
        yield return ("Equal", NumericTypes, null);
        yield return ("Less", NumericTypes, null);
        yield return ("LessOrEqual", NumericTypes, null);
        yield return ("Greater", NumericTypes, null);
        yield return ("GreaterOrEqual", NumericTypes, null);
        yield return ("BitwiseAnd", IntegerTypes, null);
        yield return ("BitwiseOr", IntegerTypes, null);
        yield return ("BitwiseXor", IntegerTypes, null);
        yield return ("BitShift", [ElementType.UInt8, ElementType.UInt16, ElementType.UInt32, ElementType.UInt64], Attrs(("direction", AttributeValue.String("LEFT"))));
        yield return ("BitShift", [ElementType.UInt8, ElementType.UInt16, ElementType.UInt32, ElementType.UInt64], Attrs(("direction", AttributeValue.String("RIGHT"))));
        yield return ("And", [ElementType.Bool], null);
        yield return ("Or", [ElementType.Bool], null);
        yield return ("Xor", [ElementType.Bool], null);
        yield return ("Equal", [ElementType.Bool], null);
    }

    private static (Func<long, double> A, Func<long, double> B) BinaryValues(string op, ElementType t, long seed)
    {
        if (t == ElementType.Bool) return (Random((int)seed, 0, 1, true), Random((int)seed + 1, 0, 1, true));
        bool isFloat = t is ElementType.Float32 or ElementType.Float64;
        if (op == "BitShift") return (Random((int)seed, 0, 200, true), Random((int)seed + 1, 0, 7, true));
        if (op == "Pow") return isFloat ? (Random((int)seed, 0.1, 4), Random((int)seed + 1, -3, 3)) : (Random((int)seed, -9, 9, true), Random((int)seed + 1, 0, 5, true));
        double lo = IsUnsigned(t) ? 0 : -11, hi = 11;
        var a = Random((int)seed, lo, hi, !isFloat);
        var b = Random((int)seed + 1, lo, hi, !isFloat);
        // Divisors are never 0 (integer division by zero has no defined result in ONNX).
        Func<long, double> nonzero = i => b(i) is var v && v == 0 ? 3 : v;
        return (a, op is "Div" or "Mod" ? nonzero : b);
    }

    [Theory]
    [MemberData(nameof(AllConfigurations), MemberType = typeof(KernelHarness))]
    public void BinaryOperatorsWithBroadcasting(string configuration)
    {
        foreach (var (op, types, attributes) in BinaryOperators())
            foreach (var t in types)
                foreach (var (sa, sb) in BroadcastShapes)
                {
                    var sets = BroadcastLengths.Select(n =>
                    {
                        var (va, vb) = BinaryValues(op, t, n);
                        return new[] { Make(t, Concrete(sa, n), va), Make(t, Concrete(sb, n), vb) };
                    });
                    Check(() => Single(op, [(t, sa), (t, sb)], attributes), configuration, sets, $"{op} {t} {Shape.Of(sa)} {Shape.Of(sb)}");
                }
    }

    [Theory]
    [MemberData(nameof(AllConfigurations), MemberType = typeof(KernelHarness))]
    public void CastsBetweenEveryPairOfTypes(string configuration)
    {
        foreach (var from in AllTypes)
            foreach (var to in AllTypes)
            {
                // Values every type holds: 0..100 in halves (floats), and negatives between signed and float types.
                bool negatives = !IsUnsigned(from) && !IsUnsigned(to) && from != ElementType.Bool && to != ElementType.Bool;
                bool integral = !(from is ElementType.Float32 or ElementType.Float64 or ElementType.Float16 or ElementType.BFloat16);
                var sets = new[] { 0L, 1, 7, 8, 9, 17, 40 }.Select(n => new[]
                {
                    Make(from, [n], from == ElementType.Bool ? Random((int)n, 0, 1, true) : i => Math.Round(Random((int)n, negatives ? -100 : 0, 100)(i) * 2) / 2 is var v && integral ? Math.Truncate(v) : v),
                });
                Check(() => Single("Cast", [(from, [N])], Attrs(("to", AttributeValue.Int((long)to)))), configuration, sets, $"Cast {from} -> {to}");
            }
    }

    [Theory]
    [MemberData(nameof(AllConfigurations), MemberType = typeof(KernelHarness))]
    public void WhereSelectsWithBroadcastConditions(string configuration)
    {
        foreach (var t in AllTypes)
            foreach (var (sc, sx, sy) in new (Dim[], Dim[], Dim[])[] { ([N], [N], [N]), ([N], [1], [N]), ([1, N], [3, N], [1]), ([3, 1], [N], [3, N]) })
            {
                var sets = BroadcastLengths.Select(n => new[]
                {
                    Make(ElementType.Bool, Concrete(sc, n), Random((int)n, 0, 1, true)),
                    Make(t, Concrete(sx, n), Random((int)n + 1, 0, 50, true)),
                    Make(t, Concrete(sy, n), Random((int)n + 2, 0, 50, true)),
                });
                Check(() => Single("Where", [(ElementType.Bool, sc), (t, sx), (t, sy)]), configuration, sets, $"Where {t} {Shape.Of(sc)}");
            }
    }

    [Theory]
    [MemberData(nameof(AllConfigurations), MemberType = typeof(KernelHarness))]
    public void VariadicOperatorsAndClip(string configuration)
    {
        foreach (var t in NumericTypes)
        {
            var three = BroadcastLengths.Select(n => new[]
            {
                Make(t, [n], Random((int)n, 0, 20, true)), Make(t, [1], Random((int)n + 1, 0, 20, true)), Make(t, [3, n], Random((int)n + 2, 0, 20, true)),
            }).ToList();
            foreach (var op in t is ElementType.Float32 or ElementType.Float64 ? new[] { "Max", "Min", "Sum", "Mean" } : ["Max", "Min"])
                Check(() => Single(op, [(t, [N]), (t, [1]), (t, [3, N])]), configuration, three, $"{op} {t}");
            var clip = BroadcastLengths.Select(n => new[] { Make(t, [n], Random((int)n, 0, 20, true)), Make(t, [], _ => 5), Make(t, [], _ => 12) });
            Check(() => Single("Clip", [(t, [N]), (t, []), (t, [])]), configuration, clip, $"Clip {t}");
        }
    }

    [Theory]
    [MemberData(nameof(AllConfigurations), MemberType = typeof(KernelHarness))]
    public void DataMovementThroughStridedViews(string configuration)
    {
        foreach (var t in new[] { ElementType.Float32, ElementType.Float64, ElementType.Int64, ElementType.Int32, ElementType.UInt8, ElementType.Float16, ElementType.Bool })
        {
            var sets = new long[] { 0, 1, 5, 8, 17, 40 }.Select(n => new[] { Make(t, [2, n, 3], Random((int)n, 0, 100, true)) }).ToList();
            foreach (var perm in new long[][] { [2, 0, 1], [1, 0, 2], [0, 2, 1] })
                Check(() => Single("Transpose", [(t, [2, N, 3])], Attrs(("perm", AttributeValue.Ints(perm)))), configuration, sets, $"Transpose {t} {string.Join(",", perm)}");
            Check(() => ReversedSlice(t), configuration, sets, $"Slice step -1 {t}");
            Check(() => Expanded(t), configuration, sets, $"Expand {t}");
            Check(() => Single("Concat", [(t, [2, N, 3]), (t, [2, N, 3])], Attrs(("axis", AttributeValue.Int(2)))), configuration,
                sets.Select(s => new[] { s[0], s[0] }), $"Concat {t}");
        }
    }

    /// <summary>x broadcast to [2, 2, N, 3]: an input read twice through a stride-0 outer dimension.</summary>
    private static Model Expanded(ElementType t)
    {
        var g = new Graph("main");
        var x = g.AddInput("x", new TensorType(t, Shape.Of(2, N, 3)));
        var shape = g.Add("Constant", [], Attrs(("value", AttributeValue.Tensor(TensorData.Vector(2, 1, 1, 1)))));
        g.AddOutput(g.Add("Expand", [x, shape]));
        return Typed(g);
    }

    /// <summary>x[::-1, :, ::-1]: negative strides, on the inner dimension too.</summary>
    private static Model ReversedSlice(ElementType t)
    {
        var g = new Graph("main");
        var x = g.AddInput("x", new TensorType(t, Shape.Of(2, N, 3)));
        Value Const(params long[] v) => g.Add("Constant", [], Attrs(("value", AttributeValue.Tensor(TensorData.Vector(v)))));
        var y = g.Add("Slice", [x, Const(-1, -1), Const(long.MinValue, long.MinValue), Const(0, 2), Const(-1, -1)]);
        g.AddOutput(y);
        return Typed(g);
    }

    /// <summary>
    /// Fused chains: float arithmetic and transcendental ops in one program (HardSwish after an
    /// affine map, Swish-like sigmoid gating), and a program mixing float32, int64 and bool lanes
    /// (comparison masks feeding selects of both widths, casts both ways, bool and int32 stores).
    /// </summary>
    [Theory]
    [MemberData(nameof(AllConfigurations), MemberType = typeof(KernelHarness))]
    public void FusedChains(string configuration)
    {
        var sets = BroadcastLengths.Concat([100, 1000]).Select(n => new[]
        {
            Make(ElementType.Float32, [3, n], Random((int)n, -8, 8)), Make(ElementType.Float32, [n], Random((int)n + 1, -8, 8)),
        }).ToList();
        Check(FloatChain, configuration, sets, "float chain");
        Check(MixedChain, configuration, sets, "mixed-type chain");
    }

    private static Model FloatChain()
    {
        var g = new Graph("main");
        var x = g.AddInput("x", new TensorType(ElementType.Float32, Shape.Of(3, N)));
        var b = g.AddInput("b", new TensorType(ElementType.Float32, Shape.Of(N)));
        var affine = g.Add("Add", [g.Add("Mul", [x, b]), b]);
        var hs = g.Add("HardSwish", [affine]);
        var gated = g.Add("Mul", [hs, g.Add("Sigmoid", [g.Add("Sub", [x, b])])]);
        g.AddOutput(g.Add("Tanh", [g.Add("Exp", [g.Add("Neg", [g.Add("Abs", [gated])])])]));
        g.AddOutput(hs);
        return Typed(g);
    }

    private static Model MixedChain()
    {
        var g = new Graph("main");
        var x = g.AddInput("x", new TensorType(ElementType.Float32, Shape.Of(3, N)));
        var b = g.AddInput("b", new TensorType(ElementType.Float32, Shape.Of(N)));
        Dictionary<string, AttributeValue> To(ElementType t) => Attrs(("to", AttributeValue.Int((long)t)));
        var less = g.Add("Less", [x, b]);
        var picked = g.Add("Where", [less, x, b]);                                           // f32 select on an f32 mask
        var xi = g.Add("Cast", [x], To(ElementType.Int64));
        var bi = g.Add("Cast", [b], To(ElementType.Int64));
        var sum = g.Add("Add", [xi, g.Add("Mul", [bi, bi])]);
        var chosen = g.Add("Where", [less, sum, xi]);                                        // i64 select on an f32 mask
        var back = g.Add("Cast", [chosen], To(ElementType.Float32));
        var narrow = g.Add("Cast", [g.Add("Sub", [chosen, bi])], To(ElementType.Int32));     // int32 store (truncating narrow)
        var big = g.Add("Greater", [sum, xi]);
        var both = g.Add("And", [less, big]);                                                // bools as values
        var d = g.Add("Cast", [picked], To(ElementType.Float64));
        var halfway = g.Add("Cast", [g.Add("Mul", [d, d])], To(ElementType.Float32));
        g.AddOutput(g.Add("Add", [back, halfway]));
        g.AddOutput(narrow);
        g.AddOutput(both);
        g.AddOutput(g.Add("Where", [both, d, g.Add("Neg", [d])]));                           // f64 select on a computed bool
        return Typed(g);
    }

    /// <summary>Large tensors on the task device: chunks split rows between workgroups run concurrently.</summary>
    [Theory]
    [InlineData("portable")]
    [InlineData("il")]
    [InlineData("il-scalar")]
    public void ChunksSplitRowsAcrossWorkers(string configuration)
    {
        var sets = new long[] { 70_001, 100_000 }.Select(n => new[]
        {
            Make(ElementType.Float32, [3, n], Random((int)n, -8, 8)), Make(ElementType.Float32, [n], Random((int)n + 1, -8, 8)),
        }).ToList();
        Check(FloatChain, configuration, sets, "float chain (task)", device: "task");
        var transposed = new long[] { 50_000 }.Select(n => new[] { Make(ElementType.Float32, [2, n, 3], Random((int)n, 0, 1)) });
        Check(() => Single("Transpose", [(ElementType.Float32, [2, N, 3])], Attrs(("perm", AttributeValue.Ints(2, 0, 1)))), configuration, transposed, "Transpose (task)", device: "task");
    }
}
