using Kiln.Ir;

namespace Kiln.Compiler.Passes.Decompositions;

/// <summary>
/// LinearAttention: a Scan over time carrying the state S [batch, kv_heads, dk, dv]. Each step
/// (shapes per step, the batch first):
/// <list type="bullet">
/// <item>gated rules decay the state: S = exp(decay) ⊙ S (decay per key feature or per head, broadcast);</item>
/// <item>the written value is v, or with the delta rule beta (v − kᵀS) (what S does not recall yet);</item>
/// <item>S += k ⊗ write (a MatMul of a column and a row);</item>
/// <item>the output is scale · qᵀS, the query heads grouped [kv_heads, group] onto their state.</item>
/// </list>
/// Q, K, V, decay and beta are packed [batch, time, heads * size]; they are reshaped (no copies)
/// to put heads on their own axis and scanned along time (axis 1), so no transposes are needed.
/// Float16 and bfloat16 run in float32 (the reference keeps the state in double) and are
/// rounded back at the end.
/// </summary>
public static class LinearAttentionDecomposition
{
    private const int Query = 0, Key = 1, ValueInput = 2, PastState = 3, Decay = 4, Beta = 5;

    public static Value?[] Rewrite(DecompositionBuilder b, Operation op)
    {
        var (gated, delta) = op.GetString("update_rule", "gated_delta") switch
        {
            "linear" => (false, false),
            "gated" => (true, false),
            "delta" => (false, true),
            "gated_delta" => (true, true),
            var r => throw Unsupported(op, $"update_rule \"{r}\" is unknown"),
        };
        Value q = op.Input(Query), k = op.Input(Key), v = op.Input(ValueInput);
        Value? past = op.OptionalInput(PastState), decay = op.OptionalInput(Decay), beta = op.OptionalInput(Beta);
        if (gated && decay is null) throw Unsupported(op, "a gated update rule needs decay");
        if (delta && beta is null) throw Unsupported(op, "a delta update rule needs beta");

        long qHeads = op.GetInt("q_num_heads", 0), kvHeads = op.GetInt("kv_num_heads", 0);
        Shape qs = q.TensorType.Shape, vs = v.TensorType.Shape;
        if (qHeads <= 0 || kvHeads <= 0 || qHeads % kvHeads != 0)
            throw Unsupported(op, $"q_num_heads {qHeads} must be a positive multiple of kv_num_heads {kvHeads}");
        if (!qs.IsRanked || qs.Rank != 3 || !qs[2].IsKnown || !vs.IsRanked || vs.Rank != 3 || !vs[2].IsKnown)
            throw Unsupported(op, $"needs rank-3 query and value with static hidden sizes, got {qs} and {vs}");
        long dk = qs[2].Value / qHeads, dv = vs[2].Value / kvHeads, group = qHeads / kvHeads;
        double scale = op.HasAttribute("scale") ? op.GetFloat("scale") : 1 / Math.Sqrt(dk);

        var type = q.TensorType.ElementType;
        var compute = type is ElementType.Float16 or ElementType.BFloat16 ? ElementType.Float32 : type;
        Value Widen(Value x) => compute == type ? x : b.Add("Cast", [x], DecompositionBuilder.Attrs(("to", AttributeValue.Int((long)compute))));
        Value Heads(Value x, params long[] shape) => b.Add("Reshape", [Widen(x), b.Int64s(shape)]);

        // Per time step: q [B, kv, group, dk], k [B, kv, dk, 1] (a column), v [B, kv, 1, dv] (a row),
        // decay [B, kv, dk or 1, 1], beta [B, kv or 1, 1, 1].
        var scanned = new List<Value>
        {
            Heads(q, 0, 0, kvHeads, group, dk),
            Heads(k, 0, 0, kvHeads, dk, 1),
            Heads(v, 0, 0, kvHeads, 1, dv),
        };
        if (gated) scanned.Add(Heads(decay!, 0, 0, kvHeads, -1, 1));
        if (delta) scanned.Add(Heads(beta!, 0, 0, -1, 1, 1));

        Value state0;
        if (past is not null) state0 = Widen(past);
        else
        {
            var batch = b.Add("Shape", [q], DecompositionBuilder.Attrs(("start", AttributeValue.Int(0)), ("end", AttributeValue.Int(1))));
            var stateShape = b.Add("Concat", [batch, b.Int64s(kvHeads, dk, dv)], DecompositionBuilder.Attrs(("axis", AttributeValue.Int(0))));
            state0 = b.Add("ConstantOfShape", [stateShape],
                DecompositionBuilder.Attrs(("value", AttributeValue.Tensor(TensorData.Zeros(compute, 1)))));
        }

        var body = new BodyBuilder(b, "linear_attention_step");
        Value s = body.Input("state", compute);
        Value qt = body.Input("q", compute), kt = body.Input("k", compute), vt = body.Input("v", compute);
        if (gated) s = body.Add("Mul", [s, body.Add("Exp", [body.Input("decay", compute)])]);
        Value write = vt;
        if (delta)
        {
            Value betaT = body.Input("beta", compute);
            var keyRow = body.Add("Transpose", [kt], DecompositionBuilder.Attrs(("perm", AttributeValue.Ints(0, 1, 3, 2))));
            var recalled = body.Add("MatMul", [keyRow, s]);
            write = body.Add("Mul", [betaT, body.Add("Sub", [vt, recalled])]);
        }
        s = body.Add("Add", [s, body.Add("MatMul", [kt, write])]);
        var read = body.Add("MatMul", [qt, s]);
        var output = body.Add("Mul", [read, body.Constant(ScalarOf(compute, scale))]);
        body.Output(s);
        body.Output(body.Add("Reshape", [output, body.Int64s(0, qHeads * dv)]));

        var results = b.AddMany("Scan", [state0, .. scanned], 2, DecompositionBuilder.Attrs(
            ("body", AttributeValue.Graph(body.Graph)),
            ("num_scan_inputs", AttributeValue.Int(scanned.Count)),
            ("scan_input_axes", AttributeValue.Ints(Enumerable.Repeat(1L, scanned.Count).ToArray())),
            ("scan_output_axes", AttributeValue.Ints(1))));
        Value Narrow(Value x) => compute == type ? x : b.Add("Cast", [x], DecompositionBuilder.Attrs(("to", AttributeValue.Int((long)type))));
        return [Narrow(results[1]), op.HasOutput(1) ? Narrow(results[0]) : null];
    }

    private static TensorData ScalarOf(ElementType type, double value) => type switch
    {
        ElementType.Float64 => TensorData.Scalar(type, value),
        _ => TensorData.Scalar(ElementType.Float32, (float)value),
    };

    private static KilnException Unsupported(Operation op, string why) =>
        new(ErrorCode.UnsupportedOperator, $"{op.Describe()}: LinearAttention decomposition {why}");
}
