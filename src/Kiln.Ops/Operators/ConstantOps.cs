using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>Constant (every value_* form, normalized to 'value' by the importer) and Identity.</summary>
[OpFamily]
public static class ConstantOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(new ConstantDefinition());
        r.Add(new IdentityDefinition());
    }

    private sealed class ConstantDefinition : OpDefinition
    {
        public override string OpType => "Constant";
        public override int MinInputs => 0;

        private static TensorData Value(Operation op) => op.GetTensor("value")
            ?? throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: has no 'value' attribute");

        public override void InferTypes(InferenceContext ctx) => ctx.SetOutput(0, Value(ctx.Op).Type);
        public override void Evaluate(EvaluationContext ctx) => ctx.SetOutput(0, Value(ctx.Op));
    }

    private sealed class IdentityDefinition : OpDefinition
    {
        public override string OpType => "Identity";

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.SameAsInput(ctx);
            if (ctx.InputShapeValue(0) is { } v) ctx.SetOutputShapeValue(0, v);
        }

        public override void Evaluate(EvaluationContext ctx) => ctx.SetOutput(0, ctx.Input(0)!);
    }
}
