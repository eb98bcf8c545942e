namespace Kiln.Ir;

/// <summary>
/// A model: its main graph plus the metadata kept from the source file (opset versions,
/// producer). Not thread-safe.
/// </summary>
public sealed class Model(Graph graph)
{
    public Graph Graph { get; } = graph;

    /// <summary>Operator set versions by domain ("" is the default ONNX domain).</summary>
    public SortedDictionary<string, long> OpsetImports { get; } = new(StringComparer.Ordinal);

    public long IrVersion { get; set; }
    public string ProducerName { get; set; } = "";
    public string ProducerVersion { get; set; } = "";

    public long DefaultOpset => OpsetImports.TryGetValue("", out var v) ? v : 0;
}
