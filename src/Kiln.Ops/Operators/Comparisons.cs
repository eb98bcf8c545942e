using System.Numerics;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Comparisons (Equal, Greater, GreaterOrEqual, Less, LessOrEqual), boolean logic (And, Or, Xor,
/// Not) and Where. Comparisons of shape values that are decidable at compile time give 0/1 shape
/// values, and Where selects between shape values, so the common "replace -1 in a shape" pattern
/// keeps precise shapes.
/// </summary>
[OpFamily]
public static class Comparisons
{
    public static void Register(OpRegistry r)
    {
        r.Add(new BinaryDefinition("Equal", ElementTypeSet.NumericOrBoolOrString, (_, a, b) => Equal(a, b), ElementType.Bool,
            (a, b) => ShapeValues.Truth(ShapeValues.AreEqual(a, b))));
        r.Add(Comparison<GreaterOp>("Greater", (a, b) => a > b));
        r.Add(Comparison<GreaterOrEqualOp>("GreaterOrEqual", (a, b) => a >= b));
        r.Add(Comparison<LessOp>("Less", (a, b) => a < b));
        r.Add(Comparison<LessOrEqualOp>("LessOrEqual", (a, b) => a <= b));

        r.Add(Logic("And", (a, b) => a & b));
        r.Add(Logic("Or", (a, b) => a | b));
        r.Add(Logic("Xor", (a, b) => a ^ b));
        r.Add(new UnaryDefinition("Not", ElementTypeSet.Bool, (_, x) => Elementwise.Map<bool, bool>(x, ElementType.Bool, v => !v)));

        r.Add(new WhereDefinition());
    }

    public struct EqualOp : IComparisonOperator { public static bool Invoke<T>(T a, T b) where T : unmanaged, INumber<T> => a == b; }
    public struct GreaterOp : IComparisonOperator { public static bool Invoke<T>(T a, T b) where T : unmanaged, INumber<T> => a > b; }
    public struct GreaterOrEqualOp : IComparisonOperator { public static bool Invoke<T>(T a, T b) where T : unmanaged, INumber<T> => a >= b; }
    public struct LessOp : IComparisonOperator { public static bool Invoke<T>(T a, T b) where T : unmanaged, INumber<T> => a < b; }
    public struct LessOrEqualOp : IComparisonOperator { public static bool Invoke<T>(T a, T b) where T : unmanaged, INumber<T> => a <= b; }

    private static TensorData Equal(TensorData a, TensorData b) =>
        a.ElementType == ElementType.String && b.ElementType == ElementType.String
            ? Elementwise.Map<string, string, bool>(a, b, ElementType.Bool, string.Equals)
            : Elementwise.Compare<EqualOp>(a, b);

    /// <summary>A numeric comparison; on two known shape values it gives a known truth value.</summary>
    private static BinaryDefinition Comparison<TOp>(string opType, Func<long, long, bool> onSizes) where TOp : IComparisonOperator =>
        new(opType, ElementTypeSet.Numeric, (_, a, b) => Elementwise.Compare<TOp>(a, b), ElementType.Bool,
            (a, b) => a.IsKnown && b.IsKnown ? ShapeValues.Truth(onSizes(a.Value, b.Value)) : null);

    private static BinaryDefinition Logic(string opType, Func<bool, bool, bool> f) =>
        new(opType, ElementTypeSet.Bool, (_, a, b) =>
        {
            var result = TensorData.Zeros(ElementType.Bool, Broadcasting.Shape(null, a.Shape, b.Shape));
            Elementwise.BroadcastLoop(a, b, result, f);
            return result;
        }, shapeValue: (a, b) => a.IsKnown && b.IsKnown ? ShapeValues.Truth(f(a.Value != 0, b.Value != 0)) : null);

    /// <summary>Where(condition, X, Y): X where the condition holds, else Y; any element type; all three broadcast.</summary>
    private sealed class WhereDefinition : OpDefinition
    {
        public override string OpType => "Where";
        public override int MinInputs => 3;

        public override void InferTypes(InferenceContext ctx)
        {
            ElementTypeSet.Bool.Check(ctx, 0);
            var et = Infer.SameElementType(ctx, 1, 2);
            Infer.Broadcast(ctx, et, 0, 1, 2);
            ShapeValues.Combine(ctx, d => d[0].IsKnown ? (d[0].Value != 0 ? d[1] : d[2]) : null, 0, 1, 2);
        }

        public override void Evaluate(EvaluationContext ctx) =>
            ctx.SetOutput(0, Selection.Where(ctx.Tensor(0), ctx.Tensor(1), ctx.Tensor(2)));
    }
}
