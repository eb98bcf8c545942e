using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Einsum(equation, inputs...): any equation — ellipses, repeated labels (diagonals and traces),
/// broadcasting of size-1 dimensions, implicit outputs. Evaluated directly from the definition:
/// for each output element, the sum over the summed labels of the product of the operands.
/// </summary>
[OpFamily]
public static class EinsumOps
{
    public static void Register(OpRegistry r) => r.Add(new EinsumDefinition());

    private sealed class EinsumDefinition : OpDefinition
    {
        public override string OpType => "Einsum";
        public override int MaxInputs => int.MaxValue;

        public override void InferTypes(InferenceContext ctx)
        {
            var inputs = Enumerable.Range(0, ctx.InputCount).ToArray();
            var et = Infer.SameElementType(ctx, inputs);
            Infer.ElementTypeIn(ctx, 0, t => t.IsNumeric(), "numeric");
            if (inputs.Any(i => !ctx.InputShape(i).IsRanked)) { ctx.SetOutput(0, et, Shape.Unranked); return; }
            var shapes = inputs.Select(i => ctx.InputShape(i).Dims).ToArray();
            var equation = EinsumEquation.Parse(ctx.Op.GetString("equation"), shapes.Select(s => s.Count).ToArray(), ctx.Error);
            var sizes = equation.LabelSizes(shapes, ctx.Error);
            ctx.SetOutput(0, et, new Shape(equation.OutputLabels.Select(l => sizes[l]!.Value)));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var inputs = Enumerable.Range(0, ctx.InputCount).Select(ctx.Tensor).ToArray();
            var et = inputs[0].ElementType;
            if (inputs.Any(t => t.ElementType != et)) throw ctx.Error("inputs must share one element type");
            if (!et.IsNumeric()) throw ctx.Error($"needs numeric inputs, got {et.OnnxName()}");
            var equation = EinsumEquation.Parse(ctx.Op.GetString("equation"), inputs.Select(t => t.Rank).ToArray(), ctx.Error);
            if (!Dispatch.IsNativeNumeric(et))
            {
                var widened = inputs.Select(Conversions.ToFloat32).ToArray();
                ctx.SetOutput(0, Conversions.Convert(Compute(ctx, equation, widened), et));
                return;
            }
            ctx.SetOutput(0, Compute(ctx, equation, inputs));
        }

        private static TensorData Compute(EvaluationContext ctx, EinsumEquation equation, TensorData[] inputs)
        {
            var dims = equation.LabelSizes(inputs.Select(t => t.Shape.Select(d => (Dim)d).ToArray()).ToArray(), ctx.Error);
            var sizes = dims.Select(d => d?.Value ?? 1).ToArray();
            return Accumulation.Dispatch<EinsumVisitor, TensorData>(inputs[0].ElementType, new(equation, inputs, sizes));
        }
    }

    /// <summary>
    /// Walks the output labels (outer odometer) and the summed labels (inner odometer), keeping
    /// each operand's offset current; an operand's stride for a label sums the strides of its axes
    /// with that label (so a repeated label walks the diagonal), and is 0 where it broadcasts.
    /// </summary>
    private sealed class EinsumVisitor(EinsumEquation equation, TensorData[] inputs, long[] labelSizes) : IAccumulatingVisitor<TensorData>
    {
        public TensorData Visit<T, TAcc>() where T : unmanaged, INumber<T> where TAcc : unmanaged, INumber<TAcc>
        {
            int[] outLabels = equation.OutputLabels, sumLabels = equation.SummedLabels;
            var result = TensorData.Zeros(inputs[0].ElementType, outLabels.Select(l => labelSizes[l]).ToArray());
            var dst = result.Data<T>();
            var sources = inputs.Select(t => t.Data<T>()).ToArray();
            var outStrides = LabelStrides(outLabels);
            var sumStrides = LabelStrides(sumLabels);
            var outSizes = outLabels.Select(l => labelSizes[l]).ToArray();
            var sumSizes = sumLabels.Select(l => labelSizes[l]).ToArray();
            long sumCount = TensorData.CheckedCount(sumSizes);

            var outIndex = new long[outLabels.Length];
            var sumIndex = new long[sumLabels.Length];
            var outOffsets = new long[inputs.Length];
            var offsets = new long[inputs.Length];
            for (long o = 0; o < dst.Length; o++)
            {
                outOffsets.CopyTo(offsets, 0);
                var sum = TAcc.Zero;
                for (long s = 0; s < sumCount; s++)
                {
                    var product = TAcc.One;
                    for (int i = 0; i < sources.Length; i++) product *= TAcc.CreateTruncating(sources[i][offsets[i]]);
                    sum += product;
                    Advance(sumIndex, sumSizes, sumStrides, offsets);
                }
                dst[o] = T.CreateTruncating(sum);
                Advance(outIndex, outSizes, outStrides, outOffsets);
            }
            return result;
        }

        /// <summary>strides[d][i]: how far operand i's offset moves when label d advances by one.</summary>
        private long[][] LabelStrides(int[] labels)
        {
            var strides = labels.Select(_ => new long[inputs.Length]).ToArray();
            for (int i = 0; i < inputs.Length; i++)
            {
                var axisStrides = Broadcasting.Strides(inputs[i].Shape);
                for (int a = 0; a < inputs[i].Rank; a++)
                {
                    int d = Array.IndexOf(labels, equation.OperandLabels[i][a]);
                    if (d >= 0 && inputs[i].Shape[a] != 1) strides[d][i] += axisStrides[a];
                }
            }
            return strides;
        }

        /// <summary>Steps a row-major odometer by one, moving every operand's offset along.</summary>
        private static void Advance(long[] index, long[] sizes, long[][] strides, long[] offsets)
        {
            for (int d = index.Length - 1; d >= 0; d--)
            {
                index[d]++;
                for (int i = 0; i < offsets.Length; i++) offsets[i] += strides[d][i];
                if (index[d] < sizes[d]) return;
                for (int i = 0; i < offsets.Length; i++) offsets[i] -= strides[d][i] * index[d];
                index[d] = 0;
            }
        }
    }
}
