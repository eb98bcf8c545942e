using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime;

namespace Kiln.Compiler.Lowering;

/// <summary>
/// Turns a graph (types inferred, constants folded) into an <see cref="ExecutionPlan"/>: graph
/// inputs become input tensors, Constant operations constant segments, every other operation the
/// dispatch steps its lowering emits, and graph outputs output buffers (with a copy where an output
/// is an input, a constant, or a view of another tensor). Not thread-safe.
/// </summary>
public sealed class Lowerer
{
    private readonly LoweringRegistry _registry;
    private readonly Dictionary<Value, TensorRef> _tensors = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Value, TensorData> _constants = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Value, int> _outputIndex = new(ReferenceEqualityComparer.Instance);

    public ExecutionPlan Plan { get; } = new();

    public Lowerer(LoweringRegistry? registry = null) => _registry = registry ?? LoweringRegistry.Default;

    public static ExecutionPlan Lower(Graph graph, LoweringRegistry? registry = null)
    {
        var l = new Lowerer(registry);
        l.LowerGraph(graph);
        return l.Plan;
    }

    private void LowerGraph(Graph g)
    {
        for (int i = 0; i < g.Inputs.Count; i++)
        {
            var v = g.Inputs[i];
            if (v.Type is not TensorType tt) throw new KilnException(ErrorCode.UnsupportedOperator, $"input '{v.Name}' is {v.Type}: the compiled path takes tensors only");
            CheckDType(tt.ElementType, $"input '{v.Name}'");
            var shape = StaticOrSymbolicShape(v, null);
            var block = NewBlock(StorageKind.Input, i, shape.Aggregate((Dim)1, (a, b) => a * b) * DTypeOf(tt.ElementType).Size());
            var t = new TensorRef(DTypeOf(tt.ElementType), shape, block, 0);
            _tensors[v] = t;
            Plan.Inputs.Add((v.Name, t, tt.Shape));
        }
        // The first listing of a value as a graph output gets the output buffer directly.
        for (int i = 0; i < g.Outputs.Count; i++) _outputIndex.TryAdd(g.Outputs[i], i);

        foreach (var op in g.Operations)
        {
            if (op.OpType == "Constant" && op.Domain.Length == 0)
            {
                var value = op.GetTensor("value")!;
                _constants[op.Output(0)] = value;
                CheckDType(value.ElementType, op.Describe());
                int segment = Plan.ConstantSegments.Count;
                Plan.ConstantSegments.Add(value);
                var block = NewBlock(StorageKind.Constant, segment, value.AsBytes().Length);
                _tensors[op.Output(0)] = new TensorRef(DTypeOf(value.ElementType), value.Shape.Select(d => (Dim)d).ToArray(), block, 0);
                continue;
            }
            if (!_registry.TryGet(op, out var lower) && op.NestedGraphs.Any())
                throw new KilnException(ErrorCode.UnsupportedOperator, $"{op.Describe()}: not supported by the compiled path: control flow (nested graphs)");
            if (lower is null)
                throw new KilnException(ErrorCode.UnsupportedOperator, $"{op.Describe()}: not supported by the compiled path: no lowering for {op.QualifiedType}");
            foreach (var input in op.Inputs)
                if (input is not null && !_tensors.ContainsKey(input))
                    throw new KilnException(ErrorCode.UnsupportedOperator, $"{op.Describe()}: not supported by the compiled path: operand '{input.Name}' is not a tensor value");
            lower(new LoweringContext(this, op));
            for (int i = 0; i < op.Outputs.Count; i++)
                if (op.Outputs[i] is { } r && !_tensors.ContainsKey(r))
                    throw new InvalidOperationException($"{op.Describe()}: its lowering did not define result {i}");
        }

        for (int i = 0; i < g.Outputs.Count; i++)
        {
            var v = g.Outputs[i];
            var t = _tensors[v];
            if (t.Block.Kind != StorageKind.Output || t.Block.Index != i)
            {
                // An input, a constant, a view, or a repeated output: copy into a buffer of its own.
                var block = NewBlock(StorageKind.Output, i, t.ByteLength);
                var copy = new TensorRef(t.DType, t.Shape, block, 0);
                Plan.Steps.Add(new CopyStep(t, copy));
                t = copy;
            }
            Plan.Outputs.Add((v.Name, t));
        }
    }

    internal TensorRef TensorOf(Value v) => _tensors.TryGetValue(v, out var t) ? t
        : throw new InvalidOperationException($"value '{v.Name}' has not been lowered");

    internal TensorData? ConstantOf(Value v) => _constants.GetValueOrDefault(v);

    internal void Bind(Value v, TensorRef t)
    {
        if (v.TensorType.ElementType is var et && DTypeOf(et) != t.DType)
            throw new InvalidOperationException($"value '{v.Name}' is {et}, its tensor is {t.DType}");
        _tensors[v] = t;
    }

    internal TensorRef NewResult(Value v, Operation op)
    {
        var tt = v.TensorType;
        CheckDType(tt.ElementType, op.Describe());
        var shape = StaticOrSymbolicShape(v, op);
        var dtype = DTypeOf(tt.ElementType);
        Dim bytes = shape.Aggregate((Dim)1, (a, b) => a * b) * dtype.Size();
        var block = _outputIndex.Remove(v, out int index) ? NewBlock(StorageKind.Output, index, bytes) : NewBlock(StorageKind.Arena, -1, bytes);
        var t = new TensorRef(dtype, shape, block, 0);
        _tensors[v] = t;
        return t;
    }

    internal TensorRef NewArenaTensor(DType dtype, Dim[] shape) =>
        new(dtype, shape, NewBlock(StorageKind.Arena, -1, shape.Aggregate((Dim)1, (a, b) => a * b) * dtype.Size()), 0);

    private StorageBlock NewBlock(StorageKind kind, int index, Dim bytes)
    {
        var b = new StorageBlock(kind, index, bytes);
        Plan.Blocks.Add(b);
        return b;
    }

    private static DType DTypeOf(ElementType t) => (DType)(byte)t;

    private static void CheckDType(ElementType t, string what)
    {
        if (t is ElementType.String or ElementType.Complex64 or ElementType.Complex128 or ElementType.Undefined)
            throw new KilnException(ErrorCode.UnsupportedOperator, $"{what}: not supported by the compiled path: {t.OnnxName()} tensors");
    }

    /// <summary>A value's shape as dims known statically or symbolically; data-dependent sizes are not supported yet.</summary>
    public static Dim[] StaticOrSymbolicShape(Value v, Operation? op)
    {
        string where = op is null ? $"input '{v.Name}'" : op.Describe();
        if (v.Type is not TensorType { Shape.IsRanked: true } tt)
            throw new KilnException(ErrorCode.UnsupportedOperator, $"{where}: not supported by the compiled path: '{v.Name}' has an unknown rank");
        foreach (var d in tt.Shape)
            if (d.IsUnknown || (d.Expression is { } e && ContainsUnknown(e)))
                throw new KilnException(ErrorCode.UnsupportedOperator, $"{where}: not supported by the compiled path: the shape of '{v.Name}' ({tt.Shape}) depends on data");
        return tt.Shape.Dims.ToArray();
    }

    private static bool ContainsUnknown(DimExpr e) => e switch
    {
        DimExpr.Unknown => true,
        DimExpr.Bin b => ContainsUnknown(b.Left) || ContainsUnknown(b.Right),
        _ => false,
    };
}
