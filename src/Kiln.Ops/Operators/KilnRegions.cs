using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Operators of the "kiln" domain that the compiler introduces. <c>kiln.ElementwiseRegion</c>
/// holds a fused group of elementwise operations as its nested graph "body": its operands are the
/// group's external inputs (the body's inputs, in order) and its results the group values used
/// outside (the body's outputs). It means exactly what its body means, so the reference evaluator
/// runs it, and printed IR shows the fusion decisions.
/// </summary>
[OpFamily]
public static class KilnRegions
{
    public const string Domain = "kiln";
    public const string ElementwiseRegion = "ElementwiseRegion";

    public static void Register(OpRegistry r) => r.Add(new ElementwiseRegionDefinition());

    private sealed class ElementwiseRegionDefinition : OpDefinition
    {
        public override string Domain => KilnRegions.Domain;
        public override string OpType => ElementwiseRegion;
        public override int MinInputs => 0;
        public override int MaxInputs => int.MaxValue;
        public override int MaxOutputs => int.MaxValue;

        public override void InferTypes(InferenceContext ctx)
        {
            var body = ctx.Op.GetGraph("body");
            var outputs = ctx.InferGraph(body, Enumerable.Range(0, ctx.InputCount).Select(ctx.InputType).ToArray());
            if (outputs.Count != ctx.OutputCount) throw ctx.Error($"body has {outputs.Count} outputs, the region {ctx.OutputCount}");
            for (int i = 0; i < outputs.Count; i++) ctx.SetOutput(i, outputs[i]);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var results = ctx.RunGraph(ctx.Op.GetGraph("body"), ctx.Inputs.Select(v => v!).ToArray());
            for (int i = 0; i < results.Count; i++) ctx.SetOutput(i, results[i]);
        }
    }
}
