using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Optimizer steps of the ai.onnx.preview.training domain: Adagrad, Momentum and Adam. Each takes
/// a learning rate R and update count T (scalars), then n tensors X, their n gradients G, and
/// one or two groups of n per-element state tensors; it returns the n updated X, then the
/// updated state groups. Computed elementwise in double. (Gradient, which needs automatic
/// differentiation of the graph, is not implemented.)
/// </summary>
[OpFamily]
public static class Training
{
    public const string Domain = "ai.onnx.preview.training";

    public static void Register(OpRegistry r)
    {
        r.Add(new AdagradDefinition());
        r.Add(new MomentumDefinition());
        r.Add(new AdamDefinition());
    }

    /// <summary>The shared shape of the optimizer operators; subclasses give the per-element update.</summary>
    private abstract class OptimizerDefinition : OpDefinition
    {
        public override string Domain => Training.Domain;
        public override int MinInputs => 2 + 2 + StateGroups;
        public override int MaxInputs => int.MaxValue;
        public override int MinOutputs => 1 + StateGroups;
        public override int MaxOutputs => int.MaxValue;

        /// <summary>Per-element state tensors per optimized tensor (Adagrad: H; Momentum: V; Adam: V and H).</summary>
        protected abstract int StateGroups { get; }

        /// <summary>Updates one element: returns the new x and updates the state values in place.</summary>
        protected abstract double Step(Operation op, double r, long t, double x, double g, Span<double> state);

        /// <summary>How many tensors are optimized, checking that the operand and result counts fit.</summary>
        private int TensorCount(int inputs, int outputs, Func<string, KilnException> error)
        {
            int groups = 2 + StateGroups;
            if ((inputs - 2) % groups != 0 || outputs != (inputs - 2) / groups * (1 + StateGroups))
                throw error($"{inputs} operands and {outputs} results do not fit R, T and {groups} groups of tensors ({1 + StateGroups} groups of results)");
            return (inputs - 2) / groups;
        }

        public override void InferTypes(InferenceContext ctx)
        {
            int n = TensorCount(ctx.InputCount, ctx.OutputCount, ctx.Error);
            Infer.ElementTypeIn(ctx, 0, t => t is ElementType.Float32 or ElementType.Float64, "float or double");
            Infer.ElementTypeIn(ctx, 1, t => t == ElementType.Int64, "int64");
            for (int i = 0; i < n; i++)
            {
                Infer.ElementTypeIn(ctx, 2 + i, t => t is ElementType.Float32 or ElementType.Float64, "float or double");
                for (int s = 0; s <= StateGroups; s++)
                {
                    int operand = 2 + (1 + s) * n + i;
                    Infer.SameElementType(ctx, 2 + i, operand);
                    var shape = Broadcasting.Shape(ctx, ctx.InputShape(2 + i), ctx.InputShape(operand));
                    if (shape is not null && ctx.InputShape(2 + i).IsStatic && !shape.Equals(ctx.InputShape(2 + i)))
                        throw ctx.Error($"operand {operand} has shape {ctx.InputShape(operand)}, the optimized tensor {ctx.InputShape(2 + i)}");
                }
                ctx.SetOutput(i, ctx.InputType(2 + i));
                for (int s = 0; s < StateGroups; s++) ctx.SetOutput((1 + s) * n + i, ctx.InputType(2 + (2 + s) * n + i));
            }
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            int n = TensorCount(ctx.InputCount, ctx.OutputCount, ctx.Error);
            var (rate, count) = (ctx.Tensor(0), ctx.Tensor(1));
            if (rate.ElementCount != 1 || count.ElementCount != 1) throw ctx.Error("R and T must be scalars");
            double r = rate.GetDouble(0);
            long t = count.GetInt64(0);
            var state = new double[StateGroups];
            for (int i = 0; i < n; i++)
            {
                var x = ctx.Tensor(2 + i);
                var operands = Enumerable.Range(0, 1 + StateGroups).Select(s => ctx.Tensor(2 + (1 + s) * n + i)).ToArray();
                if (operands.Any(o => !o.Shape.AsSpan().SequenceEqual(x.Shape)))
                    throw ctx.Error($"the gradient and state of tensor {i} must have its shape {TensorData.FormatShape(x.Shape)}");
                var xNew = new double[x.ElementCount];
                var states = Enumerable.Range(0, StateGroups).Select(_ => new double[x.ElementCount]).ToArray();
                for (long e = 0; e < xNew.LongLength; e++)
                {
                    for (int s = 0; s < StateGroups; s++) state[s] = operands[1 + s].GetDouble(e);
                    xNew[e] = Step(ctx.Op, r, t, x.GetDouble(e), operands[0].GetDouble(e), state);
                    for (int s = 0; s < StateGroups; s++) states[s][e] = state[s];
                }
                ctx.SetOutput(i, Conversions.Convert(new TensorData(ElementType.Float64, x.Shape, xNew), x.ElementType));
                for (int s = 0; s < StateGroups; s++)
                    ctx.SetOutput((1 + s) * n + i, Conversions.Convert(new TensorData(ElementType.Float64, x.Shape, states[s]), operands[1 + s].ElementType));
            }
        }
    }

    /// <summary>
    /// Adagrad: r = R / (1 + T·decay_factor); g = G + norm_coefficient·X; H' = H + g²;
    /// X' = X − r·g / (√H' + epsilon).
    /// </summary>
    private sealed class AdagradDefinition : OptimizerDefinition
    {
        public override string OpType => "Adagrad";
        protected override int StateGroups => 1;

        protected override double Step(Operation op, double r, long t, double x, double g, Span<double> state)
        {
            double rate = r / (1 + t * op.GetFloat("decay_factor", 0));
            double gradient = op.GetFloat("norm_coefficient", 0) * x + g;
            state[0] += gradient * gradient;
            return x - rate * gradient / (Math.Sqrt(state[0]) + op.GetFloat("epsilon", 1e-6f));
        }
    }

    /// <summary>
    /// Momentum: g = G + norm_coefficient·X; V' = alpha·V + beta'·g where beta' is beta, or 1 on
    /// the first update (T = 0); standard: X' = X − R·V'; nesterov: X' = X − R·(g + alpha·V').
    /// </summary>
    private sealed class MomentumDefinition : OptimizerDefinition
    {
        public override string OpType => "Momentum";
        protected override int StateGroups => 1;

        protected override double Step(Operation op, double r, long t, double x, double g, Span<double> state)
        {
            double alpha = op.GetFloat("alpha"), beta = t > 0 ? op.GetFloat("beta") : 1;
            double gradient = op.GetFloat("norm_coefficient") * x + g;
            state[0] = alpha * state[0] + beta * gradient;
            return op.GetString("mode") switch
            {
                "standard" => x - r * state[0],
                "nesterov" => x - r * (gradient + alpha * state[0]),
                var mode => throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: unknown mode '{mode}'"),
            };
        }
    }

    /// <summary>
    /// Adam: g = G + norm_coefficient·X; V' = alpha·V + (1 − alpha)·g; H' = beta·H + (1 − beta)·g²;
    /// r = R·√(1 − beta^T) / (1 − alpha^T) once T &gt; 0 (else R);
    /// X' = (1 − norm_coefficient_post)·(X − r·V' / (√H' + epsilon)).
    /// </summary>
    private sealed class AdamDefinition : OptimizerDefinition
    {
        public override string OpType => "Adam";
        protected override int StateGroups => 2;

        protected override double Step(Operation op, double r, long t, double x, double g, Span<double> state)
        {
            double alpha = op.GetFloat("alpha", 0.9f), beta = op.GetFloat("beta", 0.999f);
            double gradient = op.GetFloat("norm_coefficient", 0) * x + g;
            state[0] = alpha * state[0] + (1 - alpha) * gradient;
            state[1] = beta * state[1] + (1 - beta) * gradient * gradient;
            double rate = t > 0 ? r * Math.Sqrt(1 - Math.Pow(beta, t)) / (1 - Math.Pow(alpha, t)) : r;
            double updated = x - rate * state[0] / (Math.Sqrt(state[1]) + op.GetFloat("epsilon", 1e-6f));
            return (1 - op.GetFloat("norm_coefficient_post", 0)) * updated;
        }
    }
}
