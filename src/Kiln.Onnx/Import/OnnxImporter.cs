using Google.Protobuf;
using Kiln.Ir;
using Kiln.Onnx.Proto;
using Kiln.Ops;

namespace Kiln.Onnx;

/// <summary>Options of <see cref="OnnxImporter"/>.</summary>
public sealed record ImportOptions
{
    /// <summary>Run shape inference after import (on by default).</summary>
    public bool InferShapes { get; init; } = true;

    /// <summary>Run the IR verifier after import (on by default).</summary>
    public bool Verify { get; init; } = true;

    /// <summary>Input shapes to use instead of the declared ones (e.g. x = [1,3,640,640]).</summary>
    public IReadOnlyDictionary<string, long[]>? InputShapes { get; init; }

    public OpRegistry Registry { get; init; } = OpRegistry.Default;
}

/// <summary>
/// Reads an ONNX model into the graph IR: one operation per node, initializers as Constant
/// operations, nested graphs as graph attributes, model-local functions inlined, older operator
/// forms upgraded to the newest. Then types are inferred and the IR verified. Every problem with
/// the file is a <see cref="KilnException"/> that names the node, value or field.
/// Stateless apart from one import; not thread-safe per instance.
/// </summary>
public sealed class OnnxImporter
{
    private readonly ImportOptions _options;
    private readonly OnnxTensors.ExternalDataRoot? _external;
    private readonly Dictionary<(string, string), FunctionProto> _functions = [];
    private readonly Dictionary<Value, IrType> _declared = new(ReferenceEqualityComparer.Instance);
    private Dictionary<string, long> _opsets = new(StringComparer.Ordinal);
    private int _inlineDepth;

    private OnnxImporter(ImportOptions options, OnnxTensors.ExternalDataRoot? external)
    {
        _options = options;
        _external = external;
    }

    /// <summary>Loads a model file (external data is read from the file's folder).</summary>
    public static Model Load(string path, ImportOptions? options = null)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new KilnException(ErrorCode.Io, $"cannot read '{path}': {e.Message}", e);
        }
        var dir = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        return Import(ParseModelProto(bytes, Path.GetFileName(path)), options, new OnnxTensors.ExternalDataRoot(dir));
    }

    /// <summary>Loads a model from bytes (models with external data must be loaded from a path).</summary>
    public static Model Load(ReadOnlySpan<byte> bytes, ImportOptions? options = null) =>
        Import(ParseModelProto(bytes, "model"), options, null);

    internal static ModelProto ParseModelProto(ReadOnlySpan<byte> bytes, string what)
    {
        if (bytes.Length == 0) throw new KilnException(ErrorCode.InvalidModel, $"{what} is empty");
        return OnnxProtobuf.Parse(ModelProto.Parser, bytes, what);
    }

    public static Model Import(ModelProto proto, ImportOptions? options = null, OnnxTensors.ExternalDataRoot? external = null)
    {
        var importer = new OnnxImporter(options ?? new ImportOptions(), external);
        return importer.ImportModel(proto);
    }

    private Model ImportModel(ModelProto proto)
    {
        if (proto.Graph is null) throw new KilnException(ErrorCode.InvalidModel, "the model has no graph");
        _opsets = ReadOpsets(proto.OpsetImport, null);
        foreach (var f in proto.Functions) _functions[(f.Domain, f.Name)] = f;

        var graph = new Graph(proto.Graph.Name.Length > 0 ? proto.Graph.Name : "main");
        ImportGraphInto(graph, proto.Graph, null, isMain: true);
        var model = new Model(graph)
        {
            IrVersion = proto.IrVersion,
            ProducerName = proto.ProducerName,
            ProducerVersion = proto.ProducerVersion,
        };
        foreach (var (d, v) in _opsets) model.OpsetImports[d] = v;

        if (_options.InferShapes) ShapeInference.Run(graph, _declared, _options.Registry);
        if (_options.Verify) Verifier.Verify(model);
        return model;
    }

    private static Dictionary<string, long> ReadOpsets(IEnumerable<OperatorSetIdProto> imports, Dictionary<string, long>? inherit)
    {
        var map = inherit is null ? new Dictionary<string, long>(StringComparer.Ordinal) : new Dictionary<string, long>(inherit, StringComparer.Ordinal);
        foreach (var o in imports)
        {
            string domain = OpRegistry.NormalizeDomain(o.Domain);
            if (o.Version <= 0) throw new KilnException(ErrorCode.InvalidModel, $"opset import for domain '{domain}' has invalid version {o.Version}");
            map[domain] = o.Version;
        }
        return map;
    }

    /// <summary>Names visible while importing a graph: this graph's, then the enclosing graphs'.</summary>
    private sealed class Scope(Scope? outer)
    {
        private readonly Dictionary<string, Value> _names = new(StringComparer.Ordinal);
        public Scope? Outer => outer;

        public bool TryGet(string name, out Value v)
        {
            for (var s = this; s is not null; s = s.Outer)
                if (s._names.TryGetValue(name, out v!)) return true;
            v = null!;
            return false;
        }

        public bool DefinedHere(string name) => _names.ContainsKey(name);
        public void Define(string name, Value v) => _names[name] = v;
    }

    private void ImportGraphInto(Graph graph, GraphProto g, Scope? outer, bool isMain)
    {
        var scope = new Scope(outer);
        var initializers = new Dictionary<string, Func<TensorData>>(StringComparer.Ordinal);
        foreach (var t in g.Initializer)
        {
            if (t.Name.Length == 0) throw new KilnException(ErrorCode.InvalidModel, $"graph '{graph.Name}' has an initializer without a name");
            var proto = t;
            initializers[t.Name] = () => OnnxTensors.Read(proto, _external, "initializer");
        }
        foreach (var s in g.SparseInitializer)
        {
            var proto = s;
            string name = s.Values?.Name ?? "";
            if (name.Length == 0) throw new KilnException(ErrorCode.InvalidModel, $"graph '{graph.Name}' has a sparse initializer without a name");
            initializers[name] = () => Densify(proto, "sparse initializer");
        }

        foreach (var input in g.Input)
        {
            if (input.Name.Length == 0) throw new KilnException(ErrorCode.InvalidModel, $"graph '{graph.Name}' has an input without a name");
            if (initializers.ContainsKey(input.Name)) continue; // an input with a default value: a constant
            if (scope.DefinedHere(input.Name)) throw new KilnException(ErrorCode.InvalidModel, $"graph '{graph.Name}' declares input '{input.Name}' twice");
            var type = OnnxTypes.Read(input.Type, $"input '{input.Name}'") ?? new TensorType(ElementType.Undefined, Shape.Unranked);
            if (isMain && _options.InputShapes?.TryGetValue(input.Name, out var dims) == true && type is TensorType tt)
            {
                if (tt.Shape.IsRanked && tt.Shape.Rank != dims.Length)
                    throw new KilnException(ErrorCode.InvalidArgument, $"input '{input.Name}' has rank {tt.Shape.Rank}, the given shape {TensorData.FormatShape(dims)} has rank {dims.Length}");
                for (int i = 0; tt.Shape.IsRanked && i < dims.Length; i++)
                    if (tt.Shape[i].IsKnown && tt.Shape[i].Value != dims[i])
                        throw new KilnException(ErrorCode.InvalidArgument, $"input '{input.Name}' has static shape {tt.Shape}, the given shape {TensorData.FormatShape(dims)} differs");
                type = new TensorType(tt.ElementType, Shape.Of(dims));
            }
            scope.Define(input.Name, graph.AddInput(input.Name, type));
        }
        if (isMain && _options.InputShapes is { } given)
            foreach (var name in given.Keys)
                if (!graph.Inputs.Any(i => i.Name == name))
                    throw new KilnException(ErrorCode.InvalidArgument, $"the model has no input named '{name}' (inputs: {string.Join(", ", graph.Inputs.Select(i => i.Name))})");

        foreach (var (name, read) in initializers)
        {
            var value = read();
            var v = graph.Add("Constant", [], new Dictionary<string, AttributeValue> { ["value"] = AttributeValue.Tensor(value) }, name, value.Type);
            scope.Define(name, v);
        }

        var declared = new Dictionary<string, IrType>(StringComparer.Ordinal);
        foreach (var vi in g.ValueInfo)
            if (OnnxTypes.Read(vi.Type, $"value '{vi.Name}'") is { } t) declared[vi.Name] = t;
        foreach (var o in g.Output)
            if (OnnxTypes.Read(o.Type, $"output '{o.Name}'") is { } t) declared[o.Name] = t;

        foreach (var node in TopologicalOrder(g, scope, graph.Name))
            ImportNode(graph, node, scope, _opsets);

        foreach (var o in g.Output)
        {
            if (!scope.TryGet(o.Name, out var v))
                throw new KilnException(ErrorCode.InvalidModel, $"graph '{graph.Name}' output '{o.Name}' is not computed by any node");
            graph.AddOutput(v);
        }
        foreach (var (name, type) in declared)
            if (scope.TryGet(name, out var v) && v.Producer is not null) _declared[v] = type;
    }

    /// <summary>The graph's nodes in an order where each node follows the producers of its inputs (ONNX requires it; some files break it).</summary>
    private static IEnumerable<NodeProto> TopologicalOrder(GraphProto g, Scope scope, string graphName)
    {
        var produced = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in g.Node) foreach (var o in n.Output) if (o.Length > 0) produced.Add(o);
        bool sorted = true;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in g.Node)
        {
            foreach (var i in n.Input)
                if (i.Length > 0 && produced.Contains(i) && !seen.Contains(i)) { sorted = false; break; }
            if (!sorted) break;
            foreach (var o in n.Output) seen.Add(o);
        }
        if (sorted) return g.Node;

        // Kahn's algorithm over node indices, keeping file order among ready nodes.
        var producer = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int k = 0; k < g.Node.Count; k++) foreach (var o in g.Node[k].Output) if (o.Length > 0) producer[o] = k;
        var order = new List<NodeProto>();
        var done = new bool[g.Node.Count];
        bool progress = true;
        while (order.Count < g.Node.Count && progress)
        {
            progress = false;
            for (int k = 0; k < g.Node.Count; k++)
            {
                if (done[k]) continue;
                if (g.Node[k].Input.Any(i => i.Length > 0 && producer.TryGetValue(i, out int p) && !done[p] && p != k)) continue;
                done[k] = true;
                order.Add(g.Node[k]);
                progress = true;
            }
        }
        if (order.Count < g.Node.Count)
            throw new KilnException(ErrorCode.InvalidModel, $"graph '{graphName}' has a cycle among its nodes");
        return order;
    }

    private void ImportNode(Graph graph, NodeProto node, Scope scope, Dictionary<string, long> opsets)
    {
        string domain = OpRegistry.NormalizeDomain(node.Domain);
        string label = $"{node.OpType} node{(node.Name.Length > 0 ? $" '{node.Name}'" : node.Output.Count > 0 ? $" producing '{node.Output[0]}'" : "")}";
        if (node.OpType.Length == 0) throw new KilnException(ErrorCode.InvalidModel, $"a node{(node.Name.Length > 0 ? $" '{node.Name}'" : "")} has no op_type");

        var inputs = new List<Value?>();
        foreach (var name in node.Input)
        {
            if (name.Length == 0) { inputs.Add(null); continue; }
            if (!scope.TryGet(name, out var v))
                throw new KilnException(ErrorCode.InvalidModel, $"{label}: input '{name}' is not defined");
            inputs.Add(v);
        }

        if (_functions.TryGetValue((node.Domain, node.OpType), out var function) && !_options.Registry.TryGet(domain, node.OpType, out _))
        {
            InlineFunction(graph, node, function, inputs, scope, label);
            return;
        }

        var attrs = new SortedDictionary<string, AttributeValue>(StringComparer.Ordinal);
        foreach (var a in node.Attribute)
        {
            if (a.Name.Length == 0) throw new KilnException(ErrorCode.InvalidModel, $"{label} has an attribute without a name");
            if (a.RefAttrName.Length > 0) throw new KilnException(ErrorCode.InvalidModel, $"{label}: attribute '{a.Name}' refers to '{a.RefAttrName}' outside a function");
            attrs[a.Name] = ReadAttribute(a, graph, scope, $"{label}: attribute '{a.Name}'");
        }

        if (!opsets.TryGetValue(domain, out long version))
        {
            if (domain.Length == 0) version = 1;
            else throw new KilnException(ErrorCode.InvalidModel, $"{label}: domain '{domain}' is not imported by the model");
        }
        var outputs = node.Output.Select(o => (string?)o).ToList();
        var ctx = new NodeUpgradeContext(graph, domain, node.OpType, version, node.Name, inputs, attrs, outputs);
        if (domain.Length == 0 && node.OpType == "Constant") NormalizeConstant(ctx, label);
        UpgradeRegistry.Default.Apply(ctx);

        if (!_options.Registry.TryGet(ctx.Domain, ctx.OpType, out _))
            throw new KilnException(ErrorCode.UnsupportedOperator,
                $"{label}: operator {(ctx.Domain.Length > 0 ? ctx.Domain + "." : "")}{ctx.OpType} (opset {version}) is not supported");

        foreach (var o in ctx.Outputs)
            if (!string.IsNullOrEmpty(o) && scope.DefinedHere(o))
                throw new KilnException(ErrorCode.InvalidModel, $"{label}: output '{o}' is already defined in this graph");
        var op = graph.AddOperation(ctx.OpType, ctx.Inputs, ctx.Outputs.Select(o => string.IsNullOrEmpty(o) ? null : o), ctx.Attributes, ctx.Domain, node.Name);
        for (int i = 0; i < ctx.Outputs.Count; i++)
            if (op.Outputs[i] is { } v) scope.Define(ctx.Outputs[i]!, v);
    }

    /// <summary>Constant's value_float, value_ints, ..., sparse_value forms all become 'value'.</summary>
    private void NormalizeConstant(NodeUpgradeContext ctx, string label)
    {
        if (ctx.Attributes.Count != 1) throw new KilnException(ErrorCode.InvalidModel, $"{label} must have exactly one value attribute, has {ctx.Attributes.Count}");
        var (name, a) = ctx.Attributes.First();
        TensorData value = name switch
        {
            "value" => a.AsTensor(),
            "value_float" => TensorData.Scalar(ElementType.Float32, a.AsFloat()),
            "value_floats" => TensorData.FromFloats([a.AsFloats().Length], a.AsFloats()),
            "value_int" => TensorData.Scalar(ElementType.Int64, a.AsInt()),
            "value_ints" => TensorData.Vector(a.AsInts()),
            "value_string" => TensorData.Scalar(ElementType.String, a.AsString()),
            "value_strings" => TensorData.Create(ElementType.String, [a.AsStrings().Length], a.AsStrings()),
            "sparse_value" => a.AsTensor(),
            _ => throw new KilnException(ErrorCode.InvalidModel, $"{label} has unknown attribute '{name}'"),
        };
        ctx.Attributes.Clear();
        ctx.Attributes["value"] = AttributeValue.Tensor(value);
    }

    private AttributeValue ReadAttribute(AttributeProto a, Graph graph, Scope scope, string what)
    {
        var type = a.Type;
        if (type == AttributeProto.Types.AttributeType.Undefined) type = GuessAttributeType(a, what);
        switch (type)
        {
            case AttributeProto.Types.AttributeType.Float: return AttributeValue.Float(a.F);
            case AttributeProto.Types.AttributeType.Int: return AttributeValue.Int(a.I);
            case AttributeProto.Types.AttributeType.String: return AttributeValue.String(a.S.ToStringUtf8());
            case AttributeProto.Types.AttributeType.Tensor:
                return AttributeValue.Tensor(OnnxTensors.Read(a.T ?? throw Missing(what, "t"), _external, what));
            case AttributeProto.Types.AttributeType.SparseTensor:
                return AttributeValue.Tensor(Densify(a.SparseTensor ?? throw Missing(what, "sparse_tensor"), what));
            case AttributeProto.Types.AttributeType.Graph:
                return AttributeValue.Graph(ImportNested(a.G ?? throw Missing(what, "g"), graph, scope, a.Name));
            case AttributeProto.Types.AttributeType.TypeProto:
                return AttributeValue.Type(OnnxTypes.Read(a.Tp, what) ?? throw Missing(what, "tp"));
            case AttributeProto.Types.AttributeType.Floats: return AttributeValue.Floats(a.Floats.ToArray());
            case AttributeProto.Types.AttributeType.Ints: return AttributeValue.Ints(a.Ints.ToArray());
            case AttributeProto.Types.AttributeType.Strings: return AttributeValue.Strings(a.Strings.Select(s => s.ToStringUtf8()).ToArray());
            case AttributeProto.Types.AttributeType.Tensors:
                return AttributeValue.Tensors(a.Tensors.Select(t => OnnxTensors.Read(t, _external, what)).ToArray());
            case AttributeProto.Types.AttributeType.Graphs:
                return AttributeValue.Graphs(a.Graphs.Select((g, i) => ImportNested(g, graph, scope, $"{a.Name}_{i}")).ToArray());
            case AttributeProto.Types.AttributeType.TypeProtos:
                return AttributeValue.Types(a.TypeProtos.Select(t => OnnxTypes.Read(t, what) ?? throw Missing(what, "type_protos")).ToArray());
            case AttributeProto.Types.AttributeType.SparseTensors:
                return AttributeValue.Tensors(a.SparseTensors.Select(t => Densify(t, what)).ToArray());
            default:
                throw new KilnException(ErrorCode.InvalidModel, $"{what} has unknown attribute type {(int)a.Type}");
        }
    }

    private static KilnException Missing(string what, string field) => new(ErrorCode.InvalidModel, $"{what} has no '{field}' value");

    /// <summary>Old files leave the attribute type out; it follows from which field is set.</summary>
    private static AttributeProto.Types.AttributeType GuessAttributeType(AttributeProto a, string what)
    {
        if (a.Floats.Count > 0) return AttributeProto.Types.AttributeType.Floats;
        if (a.Ints.Count > 0) return AttributeProto.Types.AttributeType.Ints;
        if (a.Strings.Count > 0) return AttributeProto.Types.AttributeType.Strings;
        if (a.Tensors.Count > 0) return AttributeProto.Types.AttributeType.Tensors;
        if (a.Graphs.Count > 0) return AttributeProto.Types.AttributeType.Graphs;
        if (a.T is not null) return AttributeProto.Types.AttributeType.Tensor;
        if (a.G is not null) return AttributeProto.Types.AttributeType.Graph;
        if (!a.S.IsEmpty) return AttributeProto.Types.AttributeType.String;
        if (a.F != 0) return AttributeProto.Types.AttributeType.Float;
        if (a.I != 0) return AttributeProto.Types.AttributeType.Int;
        throw new KilnException(ErrorCode.InvalidModel, $"{what} has no type and no value");
    }

    private Graph ImportNested(GraphProto g, Graph parent, Scope scope, string fallbackName)
    {
        var nested = parent.CreateNested(g.Name.Length > 0 ? g.Name : fallbackName);
        ImportGraphInto(nested, g, scope, isMain: false);
        return nested;
    }

    /// <summary>A sparse tensor (values at indices, zeros elsewhere) as a dense tensor.</summary>
    private TensorData Densify(SparseTensorProto s, string what)
    {
        if (s.Values is null || s.Indices is null) throw new KilnException(ErrorCode.InvalidModel, $"{what}: sparse tensor lacks values or indices");
        var values = OnnxTensors.Read(s.Values, _external, what);
        var indices = OnnxTensors.Read(s.Indices, _external, what);
        var dims = s.Dims.ToArray();
        var dense = TensorData.Zeros(values.ElementType, dims);
        long nnz = values.ElementCount;
        var strides = Broadcasting.Strides(dims);
        var idx = indices.ToInt64Array();
        bool linear = indices.Rank == 1;
        if (linear ? idx.Length != nnz : indices.Rank != 2 || indices.Shape[0] != nnz || indices.Shape[1] != dims.Length)
            throw new KilnException(ErrorCode.InvalidModel, $"{what}: sparse indices of shape {TensorData.FormatShape(indices.Shape)} do not fit {nnz} values of rank {dims.Length}");
        var src = values.Storage;
        var dst = dense.Storage;
        for (long k = 0; k < nnz; k++)
        {
            long offset = 0;
            if (linear) offset = idx[k];
            else for (int d = 0; d < dims.Length; d++)
            {
                long i = idx[k * dims.Length + d];
                if (i < 0 || i >= dims[d]) throw new KilnException(ErrorCode.InvalidModel, $"{what}: sparse index {i} out of range for dimension {d} of size {dims[d]}");
                offset += i * strides[d];
            }
            if (offset < 0 || offset >= dense.ElementCount) throw new KilnException(ErrorCode.InvalidModel, $"{what}: sparse index {offset} out of range");
            Array.Copy(src, k, dst, offset, 1);
        }
        return dense;
    }

    /// <summary>
    /// Expands a call of a model-local function: its nodes are imported with the function's
    /// inputs bound to the call's operands, attribute references replaced by the call's attributes,
    /// and its outputs renamed to the call's output names.
    /// </summary>
    private void InlineFunction(Graph graph, NodeProto call, FunctionProto f, List<Value?> inputs, Scope outer, string label)
    {
        if (++_inlineDepth > 64) throw new KilnException(ErrorCode.InvalidModel, $"{label}: functions nest more than 64 deep (recursive function?)");
        try
        {
            var scope = new Scope(null);
            for (int i = 0; i < f.Input.Count; i++)
                if (i < inputs.Count && inputs[i] is { } v) scope.Define(f.Input[i], v);
            // The caller's attributes, then the function's defaults, resolve ref_attr_name.
            var callAttrs = call.Attribute.ToDictionary(a => a.Name, StringComparer.Ordinal);
            foreach (var d in f.AttributeProto) callAttrs.TryAdd(d.Name, d);
            var opsets = ReadOpsets(f.OpsetImport, _opsets);

            string prefix = graph.UniqueName($"{f.Name}");
            foreach (var node in f.Node)
            {
                var copy = node.Clone();
                copy.Attribute.Clear();
                foreach (var a in node.Attribute)
                {
                    if (a.RefAttrName.Length == 0) { copy.Attribute.Add(a); continue; }
                    if (callAttrs.TryGetValue(a.RefAttrName, out var given))
                    {
                        var bound = given.Clone();
                        bound.Name = a.Name;
                        copy.Attribute.Add(bound);
                    }
                }
                // Internal names get the call's prefix so they stay unique per call.
                for (int i = 0; i < copy.Output.Count; i++)
                    if (copy.Output[i].Length > 0 && !f.Output.Contains(copy.Output[i])) copy.Output[i] = $"{prefix}/{copy.Output[i]}";
                for (int i = 0; i < copy.Input.Count; i++)
                    if (copy.Input[i].Length > 0 && !scope.TryGet(copy.Input[i], out _)) copy.Input[i] = $"{prefix}/{copy.Input[i]}";
                // Function outputs: name them after the call's outputs.
                for (int i = 0; i < copy.Output.Count; i++)
                {
                    int k = f.Output.IndexOf(copy.Output[i]);
                    if (k >= 0) copy.Output[i] = k < call.Output.Count ? call.Output[k] : "";
                }
                for (int i = 0; i < copy.Input.Count; i++)
                {
                    int k = f.Output.IndexOf(node.Input[i]);
                    if (k >= 0 && k < call.Output.Count && call.Output[k].Length > 0) copy.Input[i] = call.Output[k];
                }
                ImportNode(graph, copy, scope, opsets);
            }
            // Outputs that are function inputs passed through: copy with Identity.
            for (int k = 0; k < f.Output.Count && k < call.Output.Count; k++)
            {
                if (call.Output[k].Length == 0) continue;
                if (scope.TryGet(call.Output[k], out var produced)) { outer.Define(call.Output[k], produced); continue; }
                if (scope.TryGet(f.Output[k], out var passthrough))
                {
                    var op = graph.AddOperation("Identity", [passthrough], [call.Output[k]]);
                    outer.Define(call.Output[k], op.Output(0));
                    continue;
                }
                throw new KilnException(ErrorCode.InvalidModel, $"{label}: function '{f.Name}' does not compute its output '{f.Output[k]}'");
            }
        }
        finally { _inlineDepth--; }
    }
}
