using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// SequenceMap(seq, extra...): runs body once per item of seq. Extra operands that are sequences
/// (of the same length) are walked in step; tensors are passed whole to every run. Each body
/// output becomes a sequence of the per-item results.
/// </summary>
[OpFamily]
public static class SequenceMapOps
{
    public static void Register(OpRegistry r) => r.Add(new SequenceMapDefinition());

    private sealed class SequenceMapDefinition : OpDefinition
    {
        public override string OpType => "SequenceMap";
        public override int MaxInputs => int.MaxValue;
        public override int MaxOutputs => int.MaxValue;

        public override void InferTypes(InferenceContext ctx)
        {
            Sequences.InputSequence(ctx, 0);
            var itemTypes = Enumerable.Range(0, ctx.InputCount)
                .Select(i => ctx.HasInput(i) ? ctx.InputType(i) is SequenceType s ? s.ElementType : ctx.InputType(i)
                    : throw ctx.Error($"operand {i} is missing"))
                .ToArray();
            var body = ctx.Op.GetGraph("body");
            var outputs = ctx.InferGraph(body, itemTypes);
            if (outputs.Count != ctx.OutputCount)
                throw ctx.Error($"body '{body.Name}' has {outputs.Count} outputs, the node has {ctx.OutputCount}");
            for (int i = 0; i < outputs.Count; i++) ctx.SetOutput(i, new SequenceType(outputs[i]));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var body = ctx.Op.GetGraph("body");
            if (body.Inputs.Count != ctx.InputCount || body.Outputs.Count != ctx.OutputCount)
                throw ctx.Error($"body '{body.Name}' takes {body.Inputs.Count} inputs and makes {body.Outputs.Count} outputs; the node has {ctx.InputCount} and {ctx.OutputCount}");
            int count = ctx.Sequence(0).Items.Count;
            var operands = Enumerable.Range(0, ctx.InputCount).Select(i => ctx.Input(i) ?? throw ctx.Error($"operand {i} is missing")).ToArray();
            foreach (var s in operands.OfType<SequenceData>())
                if (s.Items.Count != count) throw ctx.Error($"the sequences have different lengths ({count} and {s.Items.Count})");

            var results = Enumerable.Range(0, ctx.OutputCount).Select(_ => new List<DataValue>()).ToArray();
            for (int i = 0; i < count; i++)
            {
                var args = operands.Select(v => v is SequenceData s ? s.Items[i] : v).ToArray();
                var outputs = ctx.RunGraph(body, args);
                for (int k = 0; k < outputs.Count; k++) results[k].Add(outputs[k]);
            }
            for (int k = 0; k < results.Length; k++)
                ctx.SetOutput(k, new SequenceData(Sequences.ItemType(results[k], body.Outputs[k].Type), results[k]));
        }
    }
}
