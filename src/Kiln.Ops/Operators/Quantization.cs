using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear. Scales and zero points are per
/// tensor (one value), per axis (a vector along 'axis') or blocked (x's rank, 'axis' divided into
/// blocks of block_size). Arithmetic follows numpy's promotion in the ONNX reference: the division
/// x / scale is rounded to the wider of x's and the scale's types (or 'precision'), the product
/// (x - zero_point) * scale to float32 (float64 for double scales), then to the output type.
/// </summary>
[OpFamily]
public static class Quantization
{
    public static void Register(OpRegistry r)
    {
        r.Add(new QuantizeLinearDefinition());
        r.Add(new DequantizeLinearDefinition());
        r.Add(new DynamicQuantizeLinearDefinition());
    }

    private static bool IsQuantizedType(ElementType t) => t is ElementType.Int8 or ElementType.UInt8 or ElementType.Int16 or ElementType.UInt16
        or ElementType.Int4 or ElementType.UInt4 or ElementType.Int2 or ElementType.UInt2 or ElementType.Int32
        || (t.IsSmallFloat() && t is not (ElementType.Float16 or ElementType.BFloat16 or ElementType.Float8E8M0));

    /// <summary>y = saturate(round_half_even(x / y_scale) + y_zero_point) (float types: the sum rounded to the type).</summary>
    private sealed class QuantizeLinearDefinition : OpDefinition
    {
        public override string OpType => "QuantizeLinear";
        public override int MinInputs => 2;
        public override int MaxInputs => 3;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, t => t.IsFloat() || t == ElementType.Int32, "a float type or int32");
            Infer.ElementTypeIn(ctx, 1, t => t.IsFloat() || t == ElementType.Int32, "a float type or int32");
            ctx.SetOutput(0, OutputType(ctx.Op, ctx.HasInput(2) ? ctx.InputElementType(2) : null), ctx.InputShape(0));
        }

        private static ElementType OutputType(Operation op, ElementType? zeroPoint)
        {
            long declared = op.GetInt("output_dtype", 0);
            if (declared != 0 && (!ElementTypes.IsDefined((int)declared) || (zeroPoint is { } z && (long)z != declared)))
                throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: output_dtype {declared} does not match the zero point's type {zeroPoint?.OnnxName()}");
            var type = zeroPoint ?? (declared != 0 ? (ElementType)declared : ElementType.UInt8);
            return IsQuantizedType(type) && type != ElementType.Int32 ? type
                : throw new KilnException(ErrorCode.TypeMismatch, $"{op.Describe()}: cannot quantize to {type.OnnxName()}");
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var scale = ctx.Tensor(1);
            var zero = ctx.OptionalTensor(2);
            var type = OutputType(ctx.Op, zero?.ElementType);
            var parameters = new QuantizationAxis(ctx, x, scale, zero);
            long precisionAttribute = ctx.Op.GetInt("precision", 0);
            var precision = precisionAttribute != 0 ? (ElementType)precisionAttribute : Wider(x.ElementType, scale.ElementType);
            bool saturate = ctx.Op.GetInt("saturate", 1) != 0;

            var y = TensorData.Zeros(type, x.Shape);
            for (long i = 0; i < x.ElementCount; i++)
            {
                long p = parameters.Index(i);
                double q = FloatCompute.RoundTo(precision,
                    FloatCompute.RoundTo(precision, x.GetDouble(i)) / FloatCompute.RoundTo(precision, scale.GetDouble(p)));
                double z = zero?.GetDouble(p) ?? 0;
                if (type.IsFloat()) Conversions.SetFloat(y, i, q + z, saturate);
                else Quantized.SetSaturated(y, i, Math.Round(q, MidpointRounding.ToEven) + z);
            }
            ctx.SetOutput(0, y);
        }

        /// <summary>The float type numpy computes x / scale in.</summary>
        private static ElementType Wider(ElementType a, ElementType b)
        {
            static int Rank(ElementType t) => t switch { ElementType.Float64 or ElementType.Int32 => 3, ElementType.Float32 => 2, _ => 1 };
            return Rank(a) == 3 || Rank(b) == 3 ? ElementType.Float64 : Rank(a) == 2 || Rank(b) == 2 ? ElementType.Float32 : a;
        }
    }

    /// <summary>y = (x - x_zero_point) * x_scale, of output_dtype or the scale's type.</summary>
    private sealed class DequantizeLinearDefinition : OpDefinition
    {
        public override string OpType => "DequantizeLinear";
        public override int MinInputs => 2;
        public override int MaxInputs => 3;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, IsQuantizedType, "a quantized type");
            Infer.ElementTypeIn(ctx, 1, t => t.IsFloat(), "a float type");
            if (ctx.HasInput(2) && ctx.InputElementType(2) != ctx.InputElementType(0))
                throw ctx.TypeError("x_zero_point must have the element type of x");
            ctx.SetOutput(0, OutputType(ctx.Op, ctx.InputElementType(1)), ctx.InputShape(0));
        }

        private static ElementType OutputType(Operation op, ElementType scale)
        {
            long declared = op.GetInt("output_dtype", 0);
            if (declared == 0) return scale;
            return ElementTypes.IsDefined((int)declared) && ((ElementType)declared).IsFloat() ? (ElementType)declared
                : throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: output_dtype {declared} is not a float type");
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var scale = ctx.Tensor(1);
            var zero = ctx.OptionalTensor(2);
            if (!scale.ElementType.IsFloat()) throw ctx.Error($"x_scale must be a float type, got {scale.ElementType.OnnxName()}");
            var parameters = new QuantizationAxis(ctx, x, scale, zero);
            var product = scale.ElementType == ElementType.Float64 ? ElementType.Float64 : ElementType.Float32;
            var y = TensorData.Zeros(OutputType(ctx.Op, scale.ElementType), x.Shape);
            for (long i = 0; i < x.ElementCount; i++)
            {
                long p = parameters.Index(i);
                double shifted = FloatCompute.RoundTo(product, FloatCompute.RoundTo(product, x.GetDouble(i)) - (zero?.GetDouble(p) ?? 0));
                Conversions.SetFloat(y, i, FloatCompute.RoundTo(product, shifted * scale.GetDouble(p)));
            }
            ctx.SetOutput(0, y);
        }
    }

    /// <summary>
    /// DynamicQuantizeLinear(x) -> (y, y_scale, y_zero_point): uint8 quantization over the range
    /// [min(0, min x), max(0, max x)], computed in float32.
    /// </summary>
    private sealed class DynamicQuantizeLinearDefinition : OpDefinition
    {
        public override string OpType => "DynamicQuantizeLinear";
        public override int MinOutputs => 3;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, t => t == ElementType.Float32, "float");
            ctx.SetOutput(0, ElementType.UInt8, ctx.InputShape(0));
            ctx.SetOutput(1, ElementType.Float32, Shape.Scalar);
            ctx.SetOutput(2, ElementType.UInt8, Shape.Scalar);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            if (x.ElementType != ElementType.Float32) throw ctx.Error($"x must be float, got {x.ElementType.OnnxName()}");
            var values = x.Data<float>();
            float max = 0, min = 0;
            foreach (float v in values)
            {
                max = Math.Max(max, v);
                min = Math.Min(min, v);
            }
            float scale = (max - min) / 255f;
            // An all-zero input has no range: any scale works; keep zero point 0 and avoid dividing by zero.
            float zeroPoint = scale == 0 ? 0 : Math.Clamp(MathF.Round(0 - min / scale, MidpointRounding.ToEven), 0, 255);
            var y = new byte[values.Length];
            for (int i = 0; i < y.Length; i++)
                y[i] = scale == 0 ? (byte)zeroPoint : (byte)Math.Clamp(MathF.Round(values[i] / scale, MidpointRounding.ToEven) + zeroPoint, 0, 255);
            ctx.SetOutput(0, new TensorData(ElementType.UInt8, x.Shape, y));
            ctx.SetOutput(1, TensorData.Scalar(ElementType.Float32, scale));
            ctx.SetOutput(2, TensorData.Scalar(ElementType.UInt8, (byte)zeroPoint));
        }
    }

    /// <summary>Which scale / zero-point element applies to each element of x (per tensor, per axis or blocked).</summary>
    private sealed class QuantizationAxis
    {
        private readonly long[] _strides = [];
        private readonly long[] _shape = [];
        private readonly long[] _parameterStrides = [];
        private readonly int _axis;
        private readonly long _block;
        private readonly bool _perTensor;

        public QuantizationAxis(EvaluationContext ctx, TensorData x, TensorData scale, TensorData? zero)
        {
            if (zero is not null && !zero.Shape.AsSpan().SequenceEqual(scale.Shape) && !(zero.ElementCount == 1 && scale.ElementCount == 1))
                throw ctx.Error($"the zero point {TensorData.FormatShape(zero.Shape)} must have the scale's shape {TensorData.FormatShape(scale.Shape)}");
            _block = ctx.Op.GetInt("block_size", 0);
            if (_block < 0) throw ctx.Error($"block_size must not be negative, got {_block}");
            _perTensor = scale.ElementCount == 1 && _block == 0;
            if (_perTensor) return;
            _axis = Axes.Normalize(ctx.Op.GetInt("axis", 1), x.Rank, ctx.Op);
            _shape = x.Shape;
            _strides = Broadcasting.Strides(x.Shape);
            long along = x.Shape[_axis];
            if (_block == 0)
            {
                if (scale.Rank != 1 || scale.Shape[0] != along)
                    throw ctx.Error($"a per-axis scale must be a vector of the {along} elements of axis {_axis}, got {TensorData.FormatShape(scale.Shape)}");
                return;
            }
            long blocks = (along + _block - 1) / _block;
            bool fits = scale.Rank == x.Rank;
            for (int d = 0; fits && d < x.Rank; d++) fits = scale.Shape[d] == (d == _axis ? blocks : x.Shape[d]);
            if (!fits) throw ctx.Error($"a blocked scale for {TensorData.FormatShape(x.Shape)} with block_size {_block} on axis {_axis} must have shape with {blocks} blocks on that axis, got {TensorData.FormatShape(scale.Shape)}");
            _parameterStrides = Broadcasting.Strides(scale.Shape);
        }

        public long Index(long i)
        {
            if (_perTensor) return 0;
            long along = i / _strides[_axis] % _shape[_axis];
            if (_block == 0) return along;
            long index = 0;
            for (int d = 0; d < _shape.Length; d++)
            {
                long coord = d == _axis ? along / _block : i / _strides[d] % _shape[d];
                index += coord * _parameterStrides[d];
            }
            return index;
        }
    }
}
