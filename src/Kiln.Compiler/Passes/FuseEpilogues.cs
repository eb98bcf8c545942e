using Kiln.Compiler.Lowering.Gemm;
using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime.Kernels.Gemm;

namespace Kiln.Compiler.Passes;

/// <summary>
/// Moves the elementwise work that follows a float32 Conv, ConvTranspose, Gemm or MatMul into the
/// kernel's epilogue, so it runs on each output block while that is still in cache instead of as
/// separate passes over memory:
/// <list type="bullet">
/// <item>into a Conv's constant weights and bias, before any other stage: BatchNormalization, and
/// Mul/Div/Add/Sub by per-channel or scalar constants (computed in double, rounded once);</item>
/// <item>as epilogue stages: Relu, Clip with constant bounds, LeakyRelu, HardSigmoid, HardSwish
/// (and its x·Clip(x + 3, 0, 6)/6 spelling), and Add/Sub/Mul (Div by a constant) with a float32
/// tensor that fits <see cref="EpilogueAddressing"/> — a bias, a residual, a per-channel scale.</item>
/// </list>
/// A value is absorbed only when the chain is its only user and it is not a graph output. The
/// result is the original operator when only weights changed, else a "kiln" domain operator
/// (FusedConv, FusedConvTranspose, FusedGemm, FusedMatMul) whose extra operands follow the base
/// operator's inputs and whose stages are in the attributes <see cref="OpsAttribute"/> and
/// <see cref="ParamsAttribute"/> (two per stage). Replaced operations are removed as they die.
/// </summary>
public static class FuseEpilogues
{
    public const string Domain = "kiln";
    public const string OpsAttribute = "epilogue_ops";
    public const string ParamsAttribute = "epilogue_params";

    /// <summary>Base operators and how many input slots they have (absent optional inputs are kept as null slots).</summary>
    public static readonly IReadOnlyDictionary<string, int> BaseInputs = new Dictionary<string, int>
    {
        ["Conv"] = 3, ["ConvTranspose"] = 3, ["Gemm"] = 3, ["MatMul"] = 2,
    };

    public static string FusedName(string baseType) => "Fused" + baseType;

    public static bool Run(Graph graph)
    {
        bool changed = false;
        for (bool again = true; again;)
        {
            again = false;
            var consumers = Consumers(graph);
            var outputs = new HashSet<Value>(graph.Outputs, ReferenceEqualityComparer.Instance);
            foreach (var op in graph.Operations)
                if (Chain.Start(op) is { } chain && chain.Extend(consumers, outputs))
                {
                    // The replaced chain must go before the next search, or it would be found again.
                    chain.Rewrite(graph);
                    DeadCodeElimination.Run(graph);
                    again = changed = true;
                    break;
                }
        }
        return changed;
    }

    private static Dictionary<Value, List<Operation>> Consumers(Graph graph)
    {
        var map = new Dictionary<Value, List<Operation>>(ReferenceEqualityComparer.Instance);
        foreach (var op in graph.AllOperations())
            foreach (var v in op.Inputs)
                if (v is not null)
                {
                    if (!map.TryGetValue(v, out var list)) map[v] = list = [];
                    if (!list.Contains(op)) list.Add(op);
                }
        return map;
    }

    private static TensorData? ConstantOf(Value? v) =>
        v?.Producer is { OpType: "Constant", Domain: "" } c ? c.GetTensor("value") : null;

    private static bool IsScalarConstant(Value? v, double expected) =>
        ConstantOf(v) is { ElementCount: 1 } t && t.GetDouble(0) == expected;

    /// <summary>A base operator and the epilogue being grown behind it.</summary>
    private sealed class Chain
    {
        private readonly Operation _anchor;
        private readonly string _baseType;
        private readonly Value?[] _baseInputs;
        private readonly List<EpilogueStage> _stages = [];
        /// <summary>Operands of the stages: existing values, or constants made when the chain is rewritten.</summary>
        private readonly List<(Value? Value, TensorData? NewConstant)> _operands = [];
        private readonly int _rowAxis;
        private readonly Dim[] _shape;
        private TensorData? _weights, _bias;
        private Value _value;
        private Operation? _last;

        private Chain(Operation anchor, string baseType)
        {
            _anchor = anchor;
            _baseType = baseType;
            int slots = BaseInputs[baseType];
            _baseInputs = Enumerable.Range(0, slots).Select(anchor.OptionalInput).ToArray();
            _value = anchor.Output(0);
            _shape = _value.TensorType.Shape.Dims.ToArray();
            _rowAxis = baseType switch { "Gemm" => 0, "MatMul" => _shape.Length - 2, _ => 1 };
            if (anchor.Domain == Domain)
            {
                var ops = anchor.GetInts(OpsAttribute) ?? [];
                var p = anchor.GetFloats(ParamsAttribute) ?? [];
                for (int i = 0; i < ops.Length; i++) _stages.Add(new EpilogueStage((EpilogueOp)ops[i], p[2 * i], p[2 * i + 1]));
                for (int i = slots; i < anchor.Inputs.Count; i++) _operands.Add((anchor.Input(i), null));
            }
        }

        /// <summary>A chain rooted at <paramref name="op"/> if it is a float32 base operator (or a fused one), else null.</summary>
        public static Chain? Start(Operation op)
        {
            string? baseType = op.Domain switch
            {
                "" when BaseInputs.ContainsKey(op.OpType) => op.OpType,
                Domain when op.OpType.StartsWith("Fused", StringComparison.Ordinal) => op.OpType["Fused".Length..],
                _ => null,
            };
            if (baseType is null || !BaseInputs.ContainsKey(baseType) || op.Outputs.Count != 1 || !op.HasOutput(0)) return null;
            if (op.Output(0).Type is not TensorType { ElementType: ElementType.Float32, Shape.IsRanked: true } t) return null;
            if (baseType == "MatMul" && (op.Input(0).TensorType.Shape.Rank < 2 || op.Input(1).TensorType.Shape.Rank < 2 || t.Shape.Rank < 2)) return null;
            return new Chain(op, baseType);
        }

        /// <summary>Absorbs as many following operations as fit; true if any did.</summary>
        public bool Extend(Dictionary<Value, List<Operation>> consumers, HashSet<Value> outputs)
        {
            bool any = false;
            while (_stages.Count < Epilogue.MaxStages - 1 && !outputs.Contains(_value) && consumers.TryGetValue(_value, out var users))
            {
                Operation? end = users.Count switch
                {
                    1 => Absorb(users[0]) ? users[0] : null,
                    2 => HardSwishSpelledOut(users, consumers, outputs),
                    _ => null,
                };
                if (end is null) break;
                _value = end.Output(0);
                _last = end;
                any = true;
            }
            return any;
        }

        private bool SameResult(Operation op) =>
            op.Outputs.Count == 1 && op.HasOutput(0) && op.Output(0).Type is TensorType { ElementType: ElementType.Float32 } t && t.Shape.Dims.SequenceEqual(_shape);

        private bool Absorb(Operation op)
        {
            if (op.Domain.Length != 0 || !SameResult(op)) return false;
            switch (op.OpType)
            {
                case "Relu": return Stage(EpilogueOp.Relu);
                case "LeakyRelu": return Stage(EpilogueOp.LeakyRelu, op.GetFloat("alpha", 0.01f));
                case "HardSigmoid": return Stage(EpilogueOp.HardSigmoid, op.GetFloat("alpha", 0.2f), op.GetFloat("beta", 0.5f));
                case "HardSwish": return Stage(EpilogueOp.HardSwish);
                case "Clip":
                {
                    var lo = op.OptionalInput(1);
                    var hi = op.OptionalInput(2);
                    if ((lo is not null && ConstantOf(lo) is not { ElementCount: 1 }) || (hi is not null && ConstantOf(hi) is not { ElementCount: 1 })) return false;
                    return Stage(EpilogueOp.Clip, lo is null ? float.NegativeInfinity : (float)ConstantOf(lo)!.GetDouble(0),
                        hi is null ? float.PositiveInfinity : (float)ConstantOf(hi)!.GetDouble(0));
                }
                case "BatchNormalization": return FoldBatchNorm(op);
                case "Add" or "Sub" or "Mul" or "Div": return Arithmetic(op);
                default: return false;
            }
        }

        private bool Stage(EpilogueOp op, float p0 = 0, float p1 = 0)
        {
            _stages.Add(new EpilogueStage(op, p0, p1));
            return true;
        }

        private bool Arithmetic(Operation op)
        {
            bool left = ReferenceEquals(op.Input(0), _value);
            var other = left ? op.Input(1) : op.Input(0);
            if (ReferenceEquals(other, _value) || other.Type is not TensorType { ElementType: ElementType.Float32, Shape.IsRanked: true } ot) return false;
            var strides = EpilogueAddressing.Strides(ot.Shape.Dims.ToArray(), _shape, _rowAxis);
            if (strides is null) return false;
            var constant = ConstantOf(other);
            if (constant is not null && TryFold(op.OpType, left, constant, strides.Value)) return true;
            switch (op.OpType)
            {
                case "Add": return Operand(EpilogueOp.Add, other, 1);
                case "Mul": return Operand(EpilogueOp.Multiply, other, 1);
                case "Sub" when left: return Operand(EpilogueOp.Add, other, -1);
                case "Sub": return Stage(EpilogueOp.Scale, -1) && Operand(EpilogueOp.Add, other, 1);
                case "Div" when left && constant is not null:
                {
                    // v / c as v · (1/c): a new constant.
                    var reciprocal = Floats(constant).Select(c => 1 / c).ToArray();
                    _stages.Add(new EpilogueStage(EpilogueOp.Multiply, 1));
                    _operands.Add((null, TensorData.FromFloats(constant.Shape, reciprocal)));
                    return true;
                }
                default: return false;
            }
        }

        private bool Operand(EpilogueOp op, Value operand, float scale)
        {
            _stages.Add(new EpilogueStage(op, scale));
            _operands.Add((operand, null));
            return true;
        }

        /// <summary>A float32 copy of a constant's values (safe to change).</summary>
        private static float[] Floats(TensorData t) => (float[])Conversions.ToFloat32(t).Data<float>().Clone();

        /// <summary>Whether per-channel constants can still go into the weights: a Conv with constant weights and no stage yet.</summary>
        private bool CanFold => _baseType == "Conv" && _stages.Count == 0 && (_weights ?? ConstantOf(_baseInputs[1])) is not null
            && (_baseInputs[2] is null || _bias is not null || ConstantOf(_baseInputs[2]) is not null);

        private bool TryFold(string opType, bool left, TensorData constant, (Dim Batch, Dim Row, Dim Column) strides)
        {
            if (!CanFold || strides.Batch != (Dim)0 || strides.Column != (Dim)0 || !strides.Row.TryGetValue(out long rowStride)) return false;
            if (opType is "Sub" or "Div" && !left) return false;
            int filters = (int)_shape[1].Value;
            var c = Enumerable.Range(0, filters).Select(m => constant.GetDouble(m * rowStride)).ToArray();
            return opType switch
            {
                "Mul" => Fold(c, new double[filters]),
                "Div" => Fold(c.Select(v => 1 / v).ToArray(), new double[filters]),
                "Add" => Fold(Enumerable.Repeat(1.0, filters).ToArray(), c),
                _ => Fold(Enumerable.Repeat(1.0, filters).ToArray(), c.Select(v => -v).ToArray()),
            };
        }

        /// <summary>BatchNormalization (inference) as a per-channel scale and shift of the weights and bias.</summary>
        private bool FoldBatchNorm(Operation op)
        {
            if (!CanFold || op.GetInt("training_mode", 0) != 0 || !op.HasOutput(0) || op.Outputs.Skip(1).Any(o => o is not null)) return false;
            var p = Enumerable.Range(1, 4).Select(i => ConstantOf(op.OptionalInput(i))).ToArray();
            if (p.Any(t => t is null)) return false;
            int filters = (int)_shape[1].Value;
            if (p.Any(t => t!.ElementCount != filters)) return false;
            double epsilon = op.GetFloat("epsilon", 1e-5f);
            var scale = new double[filters];
            var shift = new double[filters];
            for (int m = 0; m < filters; m++)
            {
                scale[m] = p[0]!.GetDouble(m) / Math.Sqrt(p[3]!.GetDouble(m) + epsilon);
                shift[m] = p[1]!.GetDouble(m) - p[2]!.GetDouble(m) * scale[m];
            }
            return Fold(scale, shift);
        }

        /// <summary>y·scale + shift per output channel: W[m] ·= scale[m], B[m] = B[m]·scale[m] + shift[m].</summary>
        private bool Fold(double[] scale, double[] shift)
        {
            var w = _weights ?? ConstantOf(_baseInputs[1])!;
            var b = _bias ?? ConstantOf(_baseInputs[2]);
            int filters = scale.Length;
            var wv = Floats(w);
            long per = wv.Length / filters;
            for (int m = 0; m < filters; m++)
                for (long i = 0; i < per; i++) wv[m * per + i] = (float)(wv[m * per + i] * scale[m]);
            var bv = new float[filters];
            for (int m = 0; m < filters; m++) bv[m] = (float)((b is null ? 0 : b.GetDouble(m)) * scale[m] + shift[m]);
            _weights = TensorData.FromFloats(w.Shape, wv);
            _bias = TensorData.FromFloats([filters], bv);
            return true;
        }

        /// <summary>The "x·Clip(x + 3, 0, 6)/6" spelling of HardSwish (also with /6 inside the product).</summary>
        private Operation? HardSwishSpelledOut(List<Operation> users, Dictionary<Value, List<Operation>> consumers, HashSet<Value> outputs)
        {
            if (users.FirstOrDefault(u => u.OpType == "Add") is not { } add || users.FirstOrDefault(u => u.OpType == "Mul") is not { } mul) return null;
            Operation? Only(Value v) => !outputs.Contains(v) && consumers.TryGetValue(v, out var c) && c.Count == 1 ? c[0] : null;
            Value Other(Operation op, Value v) => ReferenceEquals(op.Input(0), v) ? op.Input(1) : op.Input(0);
            if (!SameResult(add) || !IsScalarConstant(Other(add, _value), 3)) return null;
            if (Only(add.Output(0)) is not { OpType: "Clip" } clip || !IsScalarConstant(clip.OptionalInput(1), 0) || !IsScalarConstant(clip.OptionalInput(2), 6)) return null;
            Operation? end;
            if (Only(clip.Output(0)) is { OpType: "Div" } inner && ReferenceEquals(inner.Input(0), clip.Output(0)) && IsScalarConstant(inner.Input(1), 6))
            {
                // x · (Clip(x + 3, 0, 6) / 6)
                if (!ReferenceEquals(Only(inner.Output(0)), mul) || !ReferenceEquals(Other(mul, inner.Output(0)), _value)) return null;
                end = mul;
            }
            else
            {
                // (x · Clip(x + 3, 0, 6)) / 6
                if (!ReferenceEquals(Only(clip.Output(0)), mul) || !ReferenceEquals(Other(mul, clip.Output(0)), _value)) return null;
                end = Only(mul.Output(0)) is { OpType: "Div" } div && ReferenceEquals(div.Input(0), mul.Output(0)) && IsScalarConstant(div.Input(1), 6) ? div : null;
            }
            if (end is null || !SameResult(end)) return null;
            _stages.Add(new EpilogueStage(EpilogueOp.HardSwish));
            return end;
        }

        /// <summary>Replaces the chain by one operation placed after its last member; the old ones die.</summary>
        public void Rewrite(Graph graph)
        {
            int at = graph.IndexOf(_last!) + 1;
            Value NewConstant(string hint, TensorData t)
            {
                var c = graph.AddOperation("Constant", [], [graph.UniqueName(hint)],
                    new Dictionary<string, AttributeValue> { ["value"] = AttributeValue.Tensor(t) }, outputTypes: [t.Type], insertAt: at++);
                return c.Output(0);
            }
            var inputs = (Value?[])_baseInputs.Clone();
            if (_weights is not null) inputs[1] = NewConstant(_anchor.Input(1).Name + "_folded", _weights);
            if (_bias is not null) inputs[2] = NewConstant((_anchor.OptionalInput(2)?.Name ?? _anchor.Output(0).Name + "_bias") + "_folded", _bias);
            var operands = _operands.Select(o => o.Value ?? NewConstant("epilogue_operand", o.NewConstant!)).ToList();

            var attributes = new Dictionary<string, AttributeValue>(_anchor.Attributes.Where(a => a.Key is not (OpsAttribute or ParamsAttribute)));
            string domain = "", type = _baseType;
            if (_stages.Count > 0)
            {
                domain = Domain;
                type = FusedName(_baseType);
                attributes[OpsAttribute] = AttributeValue.Ints(_stages.Select(s => (long)s.Op).ToArray());
                attributes[ParamsAttribute] = AttributeValue.Floats(_stages.SelectMany(s => new[] { s.P0, s.P1 }).ToArray());
            }
            string name = _value.Name;
            graph.Rename(_value, name + "_unfused");
            var fused = graph.AddOperation(type, [.. inputs, .. operands], [name], attributes, domain, _anchor.Name, [_value.Type], at);
            graph.ReplaceAllUses(_value, fused.Output(0));
        }
    }
}
