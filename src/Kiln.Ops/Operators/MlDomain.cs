using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Operators of the ai.onnx.ml domain: LabelEncoder, ArrayFeatureExtractor and Binarizer.
/// TreeEnsemble has its own file.
/// </summary>
[OpFamily]
public static class MlDomain
{
    public const string Domain = "ai.onnx.ml";

    public static void Register(OpRegistry r)
    {
        r.Add(new LabelEncoderDefinition());
        r.Add(new ArrayFeatureExtractorDefinition());
        r.Add(new BinarizerDefinition());
    }

    /// <summary>A LabelEncoder's keys, values and default (the reference and the compiler read it alike).</summary>
    public sealed record LabelEncoderTable(TensorData Keys, TensorData Values, TensorData Default);

    /// <summary>
    /// Reads a LabelEncoder's table: keys_* and values_* (tensor or attribute list), equally many,
    /// and the default of the values' type (default_tensor, or the typed default attribute).
    /// </summary>
    public static LabelEncoderTable ReadLabelEncoderTable(Operation op)
    {
        KilnException Bad(string m) => new(ErrorCode.InvalidModel, $"{op.Describe()}: {m}");
        TensorData? FromAttributes(string prefix) =>
            op.GetTensor(prefix + "tensor")
            ?? (op.GetStrings(prefix + "strings") is { } s ? TensorData.Create(ElementType.String, [s.Length], s)
            : op.GetInts(prefix + "int64s") is { } i ? TensorData.Vector(i)
            : op.GetFloats(prefix + "floats") is { } f ? TensorData.FromFloats([f.Length], f) : null);
        var keys = FromAttributes("keys_") ?? throw Bad("has no keys_* attribute");
        var values = FromAttributes("values_") ?? throw Bad("has no values_* attribute");
        if (keys.ElementCount != values.ElementCount) throw Bad($"has {keys.ElementCount} keys but {values.ElementCount} values");
        var fallback = op.GetTensor("default_tensor") ?? values.ElementType switch
        {
            ElementType.String => TensorData.Scalar(ElementType.String, op.GetString("default_string", "_Unused")),
            ElementType.Float32 => TensorData.Scalar(ElementType.Float32, op.GetFloat("default_float", -0f)),
            var t when t.IsFloat() => Conversions.Convert(TensorData.Scalar(ElementType.Float32, -0f), t),
            var t => Conversions.Convert(TensorData.Scalar(ElementType.Int64, op.GetInt("default_int64", -1)), t),
        };
        if (fallback.ElementType != values.ElementType || fallback.ElementCount != 1)
            throw Bad($"the default must be one {values.ElementType.OnnxName()} value, got {fallback.Type}");
        return new LabelEncoderTable(keys, values, fallback);
    }

    /// <summary>
    /// LabelEncoder(X): maps each element through the keys_* -> values_* table (attribute lists or
    /// tensors), elements not in the table to the default of the values' type. NaN keys match NaN.
    /// </summary>
    private sealed class LabelEncoderDefinition : OpDefinition
    {
        public override string Domain => MlDomain.Domain;
        public override string OpType => "LabelEncoder";

        /// <summary>An element as a dictionary key: strings by text, integers exactly, floats by value (NaN equals NaN).</summary>
        private static (string? Text, long Integer, double Number) Key(TensorData t, long i) => t.Storage switch
        {
            string[] s => (s[i], 0, 0),
            _ when t.ElementType.IsFloat() => (null, 0, t.GetDouble(i)),
            _ => (null, t.GetInt64(i), 0),
        };

        public override void InferTypes(InferenceContext ctx)
        {
            var table = ReadLabelEncoderTable(ctx.Op);
            if (ctx.InputElementType(0) != table.Keys.ElementType)
                throw ctx.TypeError($"the input is {ctx.InputElementType(0).OnnxName()} but the keys are {table.Keys.ElementType.OnnxName()}");
            ctx.SetOutput(0, table.Values.ElementType, ctx.InputShape(0));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var table = ReadLabelEncoderTable(ctx.Op);
            if (x.ElementType != table.Keys.ElementType)
                throw ctx.Error($"the input is {x.ElementType.OnnxName()} but the keys are {table.Keys.ElementType.OnnxName()}");
            var positions = new Dictionary<(string?, long, double), long>();
            for (long k = 0; k < table.Keys.ElementCount; k++) positions.TryAdd(Key(table.Keys, k), k);
            var y = TensorData.Zeros(table.Values.ElementType, x.Shape);
            for (long i = 0; i < x.ElementCount; i++)
            {
                if (positions.TryGetValue(Key(x, i), out long k)) Array.Copy(table.Values.Storage, k, y.Storage, i, 1);
                else Array.Copy(table.Default.Storage, 0, y.Storage, i, 1);
            }
            ctx.SetOutput(0, y);
        }
    }

    /// <summary>
    /// ArrayFeatureExtractor(X, Y): the elements at indices Y along X's last axis; the result has
    /// X's shape with the last axis as long as Y (a 1-D X gives [1, len(Y)]).
    /// </summary>
    private sealed class ArrayFeatureExtractorDefinition : OpDefinition
    {
        public override string Domain => MlDomain.Domain;
        public override string OpType => "ArrayFeatureExtractor";
        public override int MinInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 1, t => t == ElementType.Int64, "an int64 tensor");
            var shape = ctx.InputShape(0);
            var indices = ctx.InputShape(1);
            if (!shape.IsRanked) { ctx.SetOutput(0, ctx.InputElementType(0), Shape.Unranked); return; }
            if (shape.Rank == 0) throw ctx.Error("the input must have at least one axis");
            var count = indices.IsRanked ? indices.ElementCount : Dim.Unknown();
            Dim[] dims = shape.Rank == 1 ? [1, count] : [.. shape.Dims.Take(shape.Rank - 1), count];
            ctx.SetOutput(0, ctx.InputElementType(0), Shape.Of(dims));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var indices = ctx.Tensor(1).ToInt64Array();
            if (x.Rank == 0) throw ctx.Error("the input must have at least one axis");
            long width = x.Shape[^1];
            foreach (long i in indices)
                if (i < 0 || i >= width) throw ctx.Error($"index {i} is out of range for the last axis of size {width}");
            long[] shape = x.Rank == 1 ? [1, indices.Length] : [.. x.Shape[..^1], indices.Length];
            var y = TensorData.Zeros(x.ElementType, shape);
            long rows = x.ElementCount / Math.Max(width, 1);
            for (long r = 0; r < rows; r++)
                for (int j = 0; j < indices.Length; j++)
                    Array.Copy(x.Storage, r * width + indices[j], y.Storage, r * indices.Length + j, 1);
            ctx.SetOutput(0, y);
        }
    }

    /// <summary>Binarizer(X): 1 where X &gt; threshold, else 0, in X's type.</summary>
    private sealed class BinarizerDefinition : OpDefinition
    {
        public override string Domain => MlDomain.Domain;
        public override string OpType => "Binarizer";

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, t => t.IsNumeric(), "numeric");
            Infer.SameAsInput(ctx);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            if (!x.ElementType.IsNumeric()) throw ctx.Error($"the input must be numeric, got {x.Type}");
            double threshold = ctx.Op.GetFloat("threshold", 0);
            var flags = new double[x.ElementCount];
            for (long i = 0; i < flags.LongLength; i++) flags[i] = x.GetDouble(i) > threshold ? 1 : 0;
            ctx.SetOutput(0, Conversions.Convert(new TensorData(ElementType.Float64, x.Shape, flags), x.ElementType));
        }
    }
}
