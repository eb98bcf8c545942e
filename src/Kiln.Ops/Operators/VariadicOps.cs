using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>Max, Min, Sum and Mean of one or more tensors, all broadcast together.</summary>
[OpFamily]
public static class VariadicOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(new VariadicDefinition("Max", ElementTypeSet.Numeric, Elementwise.Binary<MaxOp>, Dim.Max));
        r.Add(new VariadicDefinition("Min", ElementTypeSet.Numeric, Elementwise.Binary<MinOp>, Dim.Min));
        r.Add(new VariadicDefinition("Sum", ElementTypeSet.Float, Elementwise.Binary<ElementwiseMath.AddOp>, (a, b) => a + b));
        r.Add(new VariadicDefinition("Mean", ElementTypeSet.Float, Elementwise.Binary<ElementwiseMath.AddOp>, finish: DivideByCount));
    }

    /// <summary>The larger operand; NaN if either is NaN.</summary>
    public struct MaxOp : INumericBinaryOperator { public static T Invoke<T>(T a, T b) where T : unmanaged, INumber<T> => T.Max(a, b); }

    /// <summary>The smaller operand; NaN if either is NaN.</summary>
    public struct MinOp : INumericBinaryOperator { public static T Invoke<T>(T a, T b) where T : unmanaged, INumber<T> => T.Min(a, b); }

    private static TensorData DivideByCount(TensorData sum, int count) =>
        Elementwise.Binary<ElementwiseMath.DivOp>(sum, Conversions.Convert(TensorData.Scalar(ElementType.Float64, (double)count), sum.ElementType));

    /// <summary>
    /// Folds the operands left to right with a broadcasting binary operator, then applies
    /// <paramref name="finish"/> (given the operand count) if any.
    /// </summary>
    private sealed class VariadicDefinition(string opType, ElementTypeSet accepts, Func<TensorData, TensorData, TensorData> combine,
        Func<Dim, Dim, Dim>? shapeValue = null, Func<TensorData, int, TensorData>? finish = null) : OpDefinition
    {
        public override string OpType => opType;
        public override int MaxInputs => int.MaxValue;

        public override void InferTypes(InferenceContext ctx)
        {
            var inputs = Enumerable.Range(0, ctx.InputCount).ToArray();
            foreach (int i in inputs)
                if (!ctx.HasInput(i)) throw ctx.Error($"input {i} is missing");
            var et = Infer.SameElementType(ctx, inputs);
            accepts.Check(ctx, 0);
            Infer.Broadcast(ctx, et, inputs);
            if (shapeValue is not null) ShapeValues.Combine(ctx, d => d.Aggregate(shapeValue), inputs);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var result = ctx.Tensor(0);
            for (int i = 1; i < ctx.InputCount; i++) result = combine(result, ctx.Tensor(i));
            ctx.SetOutput(0, finish is null ? result : finish(result, ctx.InputCount));
        }
    }
}
