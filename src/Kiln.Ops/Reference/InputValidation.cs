using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// Checks caller-supplied graph inputs against the graph's declared input types: kind (tensor,
/// sequence, optional), element type, rank, static sizes, and consistent sizes for each symbol
/// (every N must be the same N). Errors are <see cref="ErrorCode.InvalidArgument"/> and name the input.
/// </summary>
public static class InputValidation
{
    public static void Check(Graph graph, IReadOnlyList<DataValue> inputs)
    {
        var symbols = new Dictionary<string, long>(StringComparer.Ordinal);
        for (int i = 0; i < graph.Inputs.Count; i++)
            CheckValue(graph.Inputs[i].Name, graph.Inputs[i].Type, inputs[i], symbols);
    }

    private static void CheckValue(string name, IrType declared, DataValue value, Dictionary<string, long> symbols)
    {
        switch (declared)
        {
            case TensorType tt:
                if (value is not TensorData t)
                    throw Fail(name, $"expects a tensor {tt}, got {value.Type}");
                if (tt.ElementType != ElementType.Undefined && t.ElementType != tt.ElementType)
                    throw Fail(name, $"expects element type {tt.ElementType.OnnxName()}, got {t.ElementType.OnnxName()}");
                if (!tt.Shape.IsRanked) return;
                if (tt.Shape.Rank != t.Rank)
                    throw Fail(name, $"expects shape {tt.Shape} (rank {tt.Shape.Rank}), got {TensorData.FormatShape(t.Shape)} (rank {t.Rank})");
                for (int d = 0; d < t.Rank; d++)
                {
                    var dim = tt.Shape[d];
                    if (dim.TryGetValue(out long size))
                    {
                        if (size != t.Shape[d]) throw Fail(name, $"expects shape {tt.Shape}, got {TensorData.FormatShape(t.Shape)} (dimension {d})");
                    }
                    else if (dim.Expression is DimExpr.Sym sym)
                    {
                        if (symbols.TryGetValue(sym.Name, out long bound) && bound != t.Shape[d])
                            throw Fail(name, $"dimension {d} is {sym.Name} = {t.Shape[d]}, but {sym.Name} = {bound} in an earlier input");
                        symbols[sym.Name] = t.Shape[d];
                    }
                }
                return;
            case SequenceType st:
                if (value is not SequenceData s) throw Fail(name, $"expects a sequence {st}, got {value.Type}");
                foreach (var item in s.Items) CheckValue(name, st.ElementType, item, new(StringComparer.Ordinal));
                return;
            case OptionalType ot:
                if (value is not OptionalData o) throw Fail(name, $"expects an optional {ot}, got {value.Type}");
                if (o.Value is not null) CheckValue(name, ot.ElementType, o.Value, symbols);
                return;
        }
    }

    private static KilnException Fail(string name, string message) => new(ErrorCode.InvalidArgument, $"input '{name}' {message}");
}
