using Kiln.Ir;
using Kiln.Onnx;
using Kiln.Ops;

namespace Kiln.Tests;

/// <summary>
/// Evaluates a float32 model in float64: every float32 constant, input and Cast-to-float becomes
/// float64, then the reference evaluator runs it. The result is the model's answer without float32
/// rounding — the judge when two float32 implementations (Kiln and ONNX Runtime) disagree.
/// </summary>
public static class Float64Oracle
{
    public static IReadOnlyDictionary<string, TensorData> Evaluate(string modelPath, IReadOnlyDictionary<string, TensorData> inputs)
    {
        var model = OnnxImporter.Load(modelPath, new ImportOptions { InferShapes = false, Verify = false });
        foreach (var op in model.Graph.AllOperations().ToList())
        {
            if (op.OpType is "Constant" or "ConstantOfShape")
            {
                var value = op.GetTensor("value") ?? (op.OpType == "ConstantOfShape" ? TensorData.FromFloats([1], [0f]) : null);
                if (value is { ElementType: ElementType.Float32 }) op.Attributes["value"] = AttributeValue.Tensor(Conversions.Convert(value, ElementType.Float64));
            }
            if (op.OpType == "Cast" && op.GetInt("to", 0) == (long)ElementType.Float32) op.Attributes["to"] = AttributeValue.Int((long)ElementType.Float64);
        }
        foreach (var input in model.Graph.Inputs)
            if (input.Type is TensorType { ElementType: ElementType.Float32 } t) input.Type = new TensorType(ElementType.Float64, t.Shape);
        ShapeInference.Run(model.Graph);
        var wide = inputs.ToDictionary(kv => kv.Key, kv => (DataValue)(kv.Value.ElementType == ElementType.Float32 ? Conversions.Convert(kv.Value, ElementType.Float64) : kv.Value));
        return new ReferenceEvaluator().Run(model.Graph, wide).ToDictionary(kv => kv.Key, kv => (TensorData)kv.Value);
    }
}
