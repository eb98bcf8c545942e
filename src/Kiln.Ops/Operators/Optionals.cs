using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Optional values: Optional makes one (holding its operand, or empty of the 'type' attribute);
/// OptionalHasElement and OptionalGetElement read one. As in the newest spec, the readers also
/// accept plain tensors and sequences (always present) and OptionalHasElement an absent operand.
/// </summary>
[OpFamily]
public static class Optionals
{
    public static void Register(OpRegistry r)
    {
        r.Add(new OptionalDefinition());
        r.Add(new OptionalHasElementDefinition());
        r.Add(new OptionalGetElementDefinition());
    }

    private sealed class OptionalDefinition : OpDefinition
    {
        public override string OpType => "Optional";
        public override int MinInputs => 0;
        public override int MaxInputs => 1;

        private static IrType DeclaredType(Operation op) => op.GetAttribute("type")?.AsType()
            ?? throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: an Optional without an operand needs the 'type' attribute");

        public override void InferTypes(InferenceContext ctx)
        {
            var element = ctx.HasInput(0) ? ctx.InputType(0) : DeclaredType(ctx.Op);
            if (element is OptionalType) throw ctx.TypeError("an optional cannot hold an optional");
            ctx.SetOutput(0, new OptionalType(element));
        }

        public override void Evaluate(EvaluationContext ctx) => ctx.SetOutput(0, ctx.Input(0) is { } value
            ? new OptionalData(value.Type, value)
            : new OptionalData(DeclaredType(ctx.Op), null));
    }

    private sealed class OptionalHasElementDefinition : OpDefinition
    {
        public override string OpType => "OptionalHasElement";
        public override int MinInputs => 0;
        public override int MaxInputs => 1;

        public override void InferTypes(InferenceContext ctx) => ctx.SetOutput(0, ElementType.Bool, Shape.Scalar);

        public override void Evaluate(EvaluationContext ctx)
        {
            bool present = ctx.Input(0) switch
            {
                null => false,
                OptionalData o => o.HasValue,
                _ => true,
            };
            ctx.SetOutput(0, TensorData.Scalar(ElementType.Bool, present));
        }
    }

    private sealed class OptionalGetElementDefinition : OpDefinition
    {
        public override string OpType => "OptionalGetElement";

        public override void InferTypes(InferenceContext ctx) =>
            ctx.SetOutput(0, ctx.InputType(0) is OptionalType o ? o.ElementType : ctx.InputType(0));

        public override void Evaluate(EvaluationContext ctx) => ctx.SetOutput(0, ctx.Input(0) switch
        {
            OptionalData { Value: { } value } => value,
            OptionalData => throw ctx.Error("the optional is empty"),
            { } value => value,
            null => throw ctx.Error("input 0 is missing"),
        });
    }
}
