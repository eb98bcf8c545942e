using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// If and Loop: operators whose semantics are nested graphs. Nested graphs see the values of the
/// graphs around them (implicit capture); inference infers them in place, evaluation runs them
/// with <see cref="EvaluationContext.RunGraph"/>.
/// </summary>
[OpFamily]
public static class ControlFlow
{
    public static void Register(OpRegistry r)
    {
        r.Add(new IfDefinition());
        r.Add(new LoopDefinition());
    }

    /// <summary>If(cond): runs then_branch or else_branch (graphs without inputs) and returns its outputs.</summary>
    private sealed class IfDefinition : OpDefinition
    {
        public override string OpType => "If";
        public override int MaxOutputs => int.MaxValue;

        public override void InferTypes(InferenceContext ctx)
        {
            LoopBodies.CheckConditionType(ctx, ctx.InputType(0), "the condition");
            var thenTypes = Branch(ctx, "then_branch");
            var elseTypes = Branch(ctx, "else_branch");
            // A known condition picks the branch, and with it the precise types.
            bool? known = ctx.InputConstant(0) is { ElementType: ElementType.Bool, ElementCount: 1 } c ? c.Data<bool>()[0] : null;
            for (int i = 0; i < ctx.OutputCount; i++)
            {
                var type = known switch
                {
                    true => thenTypes[i],
                    false => elseTypes[i],
                    null => TypeMerging.Merge(thenTypes[i], elseTypes[i])
                        ?? throw ctx.TypeError($"output {i} is {thenTypes[i]} in then_branch but {elseTypes[i]} in else_branch"),
                };
                ctx.SetOutput(i, type);
            }
        }

        private static IReadOnlyList<IrType> Branch(InferenceContext ctx, string name)
        {
            var graph = ctx.Op.GetGraph(name);
            var types = ctx.InferGraph(graph, []);
            if (types.Count != ctx.OutputCount)
                throw ctx.Error($"{name} has {types.Count} outputs, the node has {ctx.OutputCount}");
            return types;
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            string name = LoopBodies.Condition(ctx, ctx.Input(0), "the condition") ? "then_branch" : "else_branch";
            var results = ctx.RunGraph(ctx.Op.GetGraph(name), []);
            if (results.Count != ctx.OutputCount)
                throw ctx.Error($"{name} produced {results.Count} outputs, the node has {ctx.OutputCount}");
            for (int i = 0; i < results.Count; i++) ctx.SetOutput(i, results[i]);
        }
    }

    /// <summary>
    /// Loop(M?, cond?, carried...): runs body(iteration, cond, carried...) -> (cond, carried..., scan...)
    /// while iteration &lt; M (when given) and cond holds (when given; the body's cond output is
    /// ignored without a cond operand, as the spec's "for loop" form says). Results: the final
    /// carried values, then each scan output's per-iteration tensors stacked along a new axis 0.
    /// </summary>
    private sealed class LoopDefinition : OpDefinition
    {
        public override string OpType => "Loop";
        public override int MinInputs => 0; // M and cond are optional but keep their positions
        public override int MaxInputs => int.MaxValue;
        public override int MaxOutputs => int.MaxValue;

        private static readonly TensorType IterationType = new(ElementType.Int64, Shape.Scalar);
        private static readonly TensorType ConditionType = new(ElementType.Bool, Shape.Scalar);

        public override void InferTypes(InferenceContext ctx)
        {
            if (ctx.InputCount < 2) throw ctx.Error("needs the trip count and condition operands (either may be empty)");
            if (ctx.HasInput(0) && ctx.InputType(0) is not TensorType { ElementType: ElementType.Int64 or ElementType.Undefined })
                throw ctx.TypeError($"the trip count must be an int64 tensor, got {ctx.InputType(0)}");
            if (ctx.HasInput(1)) LoopBodies.CheckConditionType(ctx, ctx.InputType(1), "the condition");
            for (int i = 2; i < ctx.InputCount; i++)
                if (!ctx.HasInput(i)) throw ctx.Error($"loop-carried operand {i - 2} is missing");

            var body = ctx.Op.GetGraph("body");
            int carriedCount = ctx.InputCount - 2;
            var carried = Enumerable.Range(2, carriedCount).Select(ctx.InputType).ToArray();
            var outputs = LoopBodies.InferToFixpoint(ctx, body, carried, c => [IterationType, ConditionType, .. c], firstCarriedOutput: 1);
            LoopBodies.CheckConditionType(ctx, outputs[0], "the body's condition output");
            int scanCount = outputs.Count - 1 - carriedCount;
            if (ctx.OutputCount > carriedCount + scanCount)
                throw ctx.Error($"the node has {ctx.OutputCount} outputs, the body makes {carriedCount} carried values and {scanCount} scan outputs");

            for (int i = 0; i < carriedCount && i < ctx.OutputCount; i++)
                ctx.SetOutput(i, LoopBodies.ResultType(carried[i], outputs[1 + i]));
            // Without a cond operand the loop runs exactly M times.
            Dim iterations = !ctx.HasInput(1) && ctx.InputConstant(0) is { ElementCount: 1 } m ? m.GetInt64(0) : Dim.Unknown();
            for (int k = 0; carriedCount + k < ctx.OutputCount; k++)
                ctx.SetOutput(carriedCount + k, LoopBodies.StackedType(ctx, outputs[1 + carriedCount + k], iterations, 0, $"scan output {k}"));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            if (ctx.InputCount < 2) throw ctx.Error("needs the trip count and condition operands (either may be empty)");
            var body = ctx.Op.GetGraph("body");
            int carriedCount = ctx.InputCount - 2;
            int scanCount = body.Outputs.Count - 1 - carriedCount;
            if (body.Inputs.Count != 2 + carriedCount || scanCount < 0)
                throw ctx.Error($"body '{body.Name}' does not fit {carriedCount} carried values");

            long? tripCount = ctx.OptionalTensor(0) switch
            {
                null => null,
                { ElementCount: 1 } m => m.GetInt64(0),
                var m => throw ctx.Error($"the trip count must hold one element, has shape {TensorData.FormatShape(m.Shape)}"),
            };
            bool useCondition = ctx.HasInput(1);
            bool condition = !useCondition || LoopBodies.Condition(ctx, ctx.Input(1), "the condition");

            var carried = Enumerable.Range(2, carriedCount).Select(i => ctx.Input(i) ?? throw ctx.Error($"loop-carried operand {i - 2} is missing")).ToArray();
            var scans = Enumerable.Range(0, scanCount).Select(_ => new List<TensorData>()).ToArray();
            for (long i = 0; (tripCount is null || i < tripCount) && condition; i++)
            {
                var results = ctx.RunGraph(body, [TensorData.Scalar(ElementType.Int64, i), TensorData.Scalar(ElementType.Bool, condition), .. carried]);
                if (useCondition) condition = LoopBodies.Condition(ctx, results[0], "the body's condition output");
                for (int c = 0; c < carriedCount; c++) carried[c] = results[1 + c];
                for (int k = 0; k < scanCount; k++)
                    scans[k].Add(results[1 + carriedCount + k] as TensorData
                        ?? throw ctx.Error($"scan output {k} must be a tensor, the body produced {results[1 + carriedCount + k].Type}"));
            }

            for (int c = 0; c < carriedCount; c++) ctx.SetOutput(c, carried[c]);
            for (int k = 0; k < scanCount; k++)
            {
                string what = $"scan output {k}";
                ctx.SetOutput(carriedCount + k, scans[k].Count > 0
                    ? AxisBlocks.Stack(scans[k], 0, m => ctx.Error($"{what}: {m}"))
                    : LoopBodies.EmptyStack(ctx, body.Outputs[1 + carriedCount + k].Type, 0, what));
            }
        }
    }
}
