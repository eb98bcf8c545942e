using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>What Loop and Scan share: inferring a body whose carried values may change type, and stacking per-iteration results.</summary>
public static class LoopBodies
{
    /// <summary>
    /// Infers <paramref name="body"/> until its carried outputs fit its carried inputs. A value
    /// carried around a loop may grow (a sequence gaining items, a tensor being concatenated), so
    /// each round generalizes the carried types that the body changed (sizes to unknown, ranks to
    /// unranked) and infers again; types only get more general, so this settles in a few rounds.
    /// <paramref name="carried"/> holds the entry types and receives the settled ones.
    /// </summary>
    public static IReadOnlyList<IrType> InferToFixpoint(InferenceContext ctx, Graph body, IrType[] carried,
        Func<IrType[], IrType[]> bodyInputs, int firstCarriedOutput)
    {
        const int MaxRounds = 8; // each round makes at least one type strictly more general
        for (int round = 0; round < MaxRounds; round++)
        {
            var outputs = ctx.InferGraph(body, bodyInputs(carried));
            if (outputs.Count < firstCarriedOutput + carried.Length)
                throw ctx.Error($"body '{body.Name}' has {outputs.Count} outputs; it needs at least {firstCarriedOutput + carried.Length}");
            bool changed = false;
            for (int i = 0; i < carried.Length; i++)
            {
                var produced = outputs[firstCarriedOutput + i];
                if (TypeMerging.Admits(carried[i], produced)) continue;
                carried[i] = TypeMerging.Merge(carried[i], produced)
                    ?? throw ctx.TypeError($"loop-carried value {i} enters the body as {carried[i]} but the body produces {produced}");
                changed = true;
            }
            if (!changed) return outputs;
        }
        throw ctx.Error($"the types of the values carried by body '{body.Name}' do not settle");
    }

    /// <summary>
    /// The type of a carried value after the loop: the settled carried type, except that a value
    /// entering as an optional and leaving the body as a plain value is typed as the body leaves it.
    /// </summary>
    public static IrType ResultType(IrType carried, IrType produced) =>
        carried is OptionalType && produced is not OptionalType ? produced : carried;

    /// <summary>The type of per-iteration tensors stacked along a new axis of the given length.</summary>
    public static IrType StackedType(InferenceContext ctx, IrType slice, Dim length, int axis, string what)
    {
        if (slice is not TensorType t) throw ctx.TypeError($"{what} must be a tensor, the body produces {slice}");
        if (!t.Shape.IsRanked) return new TensorType(t.ElementType, Shape.Unranked);
        var dims = t.Shape.Dims.ToList();
        dims.Insert(axis, length);
        return new TensorType(t.ElementType, new Shape(dims));
    }

    /// <summary>A stacked result of zero iterations: shaped like the body's output type, with unknown sizes as 0.</summary>
    public static TensorData EmptyStack(EvaluationContext ctx, IrType slice, int axis, string what)
    {
        if (slice is not TensorType { ElementType: not ElementType.Undefined } t)
            throw ctx.Error($"{what} has no iterations and the body's output type {slice} does not say its element type");
        var dims = t.Shape.IsRanked ? t.Shape.Dims.Select(d => d.TryGetValue(out long v) ? v : 0).ToList() : [];
        dims.Insert(Math.Min(axis, dims.Count), 0);
        return TensorData.Zeros(t.ElementType, [.. dims]);
    }

    /// <summary>A tensor that must hold one bool (a loop or branch condition).</summary>
    public static bool Condition(EvaluationContext ctx, DataValue? value, string what) => value switch
    {
        TensorData { ElementType: ElementType.Bool, ElementCount: 1 } t => t.Data<bool>()[0],
        null => throw ctx.Error($"{what} is missing"),
        _ => throw ctx.Error($"{what} must be a single bool, got {value.Type}"),
    };

    /// <summary>Checks that a condition operand is a bool tensor of one element (when its shape says so).</summary>
    public static void CheckConditionType(InferenceContext ctx, IrType type, string what)
    {
        if (type is not TensorType t || (t.ElementType != ElementType.Bool && t.ElementType != ElementType.Undefined))
            throw ctx.TypeError($"{what} must be a bool tensor, got {type}");
        if (t.Shape.IsRanked && t.Shape.ElementCount.TryGetValue(out long n) && n != 1)
            throw ctx.Error($"{what} must hold one element, has shape {t.Shape}");
    }
}
