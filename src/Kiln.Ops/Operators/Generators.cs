using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Operators that make new tensors from a few scalars: ConstantOfShape (a filled tensor of a
/// computed shape) and Range (an arithmetic progression). Both keep shape values when their
/// results are small integer vectors.
/// </summary>
[OpFamily]
public static class Generators
{
    public static void Register(OpRegistry r)
    {
        r.Add(new ConstantOfShapeDefinition());
        r.Add(new RangeDefinition());
    }

    /// <summary>ConstantOfShape(shape): a tensor of that shape filled with the 'value' attribute (default float 0).</summary>
    private sealed class ConstantOfShapeDefinition : OpDefinition
    {
        public override string OpType => "ConstantOfShape";

        private static TensorData Value(Operation op)
        {
            var value = op.GetTensor("value") ?? TensorData.Zeros(ElementType.Float32);
            if (value.ElementCount != 1)
                throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: value must hold one element, has shape {TensorData.FormatShape(value.Shape)}");
            return value.Reshape([]);
        }

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, t => t == ElementType.Int64, "int64");
            var value = Value(ctx.Op);
            if (ctx.InputShapeValue(0) is { } dims)
            {
                if (dims.Any(d => d.TryGetValue(out long v) && v < 0)) throw ctx.Error($"shape [{string.Join(", ", dims)}] has a negative size");
                ctx.SetOutput(0, value.ElementType, new Shape(dims));
                if (dims.Length <= 1 && value.ElementType.IsInteger() && dims.All(d => d.IsKnown) && dims.Select(d => d.Value).FirstOrDefault(1) <= 64)
                    ctx.SetOutputShapeValue(0, Enumerable.Repeat((Dim)value.GetInt64(0), (int)dims.Select(d => d.Value).FirstOrDefault(1)).ToArray());
                return;
            }
            var s = ctx.InputShape(0);
            ctx.SetOutput(0, value.ElementType, s.IsRanked && s.Rank == 1 && s[0].TryGetValue(out long rank)
                ? InferValues.UnknownDims((int)rank) : Shape.Unranked);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var shape = ctx.Tensor(0).ToInt64Array();
            TensorCopy.CheckResultShape(shape, ctx.Error);
            // Every axis reads the single value.
            ctx.SetOutput(0, TensorCopy.ByAxisOffsets(Value(ctx.Op), shape.Select(d => new long[d]).ToArray()));
        }
    }

    /// <summary>Range(start, limit, delta): start, start + delta, ... while before limit; max(ceil((limit - start) / delta), 0) elements.</summary>
    private sealed class RangeDefinition : OpDefinition
    {
        public override string OpType => "Range";
        public override int MinInputs => 3;

        private static long Count(double start, double limit, double delta, Func<string, KilnException> error)
        {
            if (delta == 0) throw error("delta is 0");
            double n = Math.Ceiling((limit - start) / delta);
            if (double.IsNaN(n) || n > TensorData.MaxElements) throw error($"range from {start} to {limit} by {delta} has too many elements");
            return Math.Max((long)n, 0);
        }

        /// <summary>Exact integer count (doubles cannot hold every int64).</summary>
        private static long Count(long start, long limit, long delta, Func<string, KilnException> error)
        {
            if (delta == 0) throw error("delta is 0");
            Int128 span = (Int128)limit - start;
            Int128 n = delta > 0 ? (span + delta - 1) / delta : (span + delta + 1) / delta;
            if (n > TensorData.MaxElements) throw error($"range from {start} to {limit} by {delta} has too many elements");
            return n < 0 ? 0 : (long)n;
        }

        public override void InferTypes(InferenceContext ctx)
        {
            var et = Infer.SameElementType(ctx, 0, 1, 2);
            Infer.ElementTypeIn(ctx, 0, t => t.IsNumeric(), "numeric");
            for (int i = 0; i < 3; i++)
                if (ctx.InputShape(i) is { IsRanked: true } s && s.ElementCount.TryGetValue(out long n) && n != 1)
                    throw ctx.Error($"input {i} must be a scalar, has shape {s}");

            if (et.IsInteger() && ctx.InputShapeValue(0) is [var start] && ctx.InputShapeValue(1) is [var limit] && ctx.InputShapeValue(2) is [var delta])
            {
                if (start.IsKnown && limit.IsKnown && delta.IsKnown)
                {
                    long n = Count(start.Value, limit.Value, delta.Value, ctx.Error);
                    ctx.SetOutput(0, et, Shape.Of(n));
                    if (n <= 64) ctx.SetOutputShapeValue(0, Enumerable.Range(0, (int)n).Select(i => (Dim)(start.Value + i * delta.Value)).ToArray());
                    return;
                }
                if (delta.TryGetValue(out long step) && step > 0)
                {
                    // A run-time bound: 0..N has N elements (sizes are never negative); otherwise clamp at 0.
                    var span = limit - start;
                    ctx.SetOutput(0, et, Shape.Of(span.Expression is DimExpr.Sym ? Dim.CeilDiv(span, step) : Dim.Max(Dim.CeilDiv(span, step), 0)));
                    return;
                }
            }
            if (ctx.InputConstant(0) is { } a && ctx.InputConstant(1) is { } b && ctx.InputConstant(2) is { } c)
            {
                ctx.SetOutput(0, et, Shape.Of(Count(a.GetDouble(0), b.GetDouble(0), c.GetDouble(0), ctx.Error)));
                return;
            }
            ctx.SetOutput(0, et, Shape.Of(Dim.Unknown()));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var (start, limit, delta) = (ctx.Tensor(0), ctx.Tensor(1), ctx.Tensor(2));
            var et = start.ElementType;
            if (limit.ElementType != et || delta.ElementType != et) throw ctx.Error("start, limit and delta must have the same type");
            if (start.ElementCount != 1 || limit.ElementCount != 1 || delta.ElementCount != 1) throw ctx.Error("start, limit and delta must be scalars");
            if (et.IsInteger()) ctx.SetOutput(0, IntegerRange(start.GetInt64(0), limit.GetInt64(0), delta.GetInt64(0), et, ctx.Error));
            else if (et.IsFloat()) ctx.SetOutput(0, FloatRange(start.GetDouble(0), limit.GetDouble(0), delta.GetDouble(0), et, ctx.Error));
            else throw ctx.Error($"element type {et.OnnxName()} is not numeric");
        }

        private static TensorData IntegerRange(long start, long limit, long delta, ElementType et, Func<string, KilnException> error)
        {
            var values = new long[Count(start, limit, delta, error)];
            for (long i = 0; i < values.LongLength; i++) values[i] = start + i * delta;
            return Conversions.Convert(TensorData.FromInt64s([values.LongLength], values), et);
        }

        /// <summary>Float ranges are computed in double (start + i·delta, no accumulated error) and rounded once.</summary>
        private static TensorData FloatRange(double start, double limit, double delta, ElementType et, Func<string, KilnException> error)
        {
            var values = new double[Count(start, limit, delta, error)];
            for (long i = 0; i < values.LongLength; i++) values[i] = start + i * delta;
            return Conversions.Convert(TensorData.Create(ElementType.Float64, [values.LongLength], values), et);
        }
    }
}
