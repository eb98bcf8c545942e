using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// Infers the type of every value of a graph, in order, with each operator's
/// <see cref="OpDefinition.InferTypes"/>. Along the way it tracks values known at compile time:
/// constants (and results of deterministic operators on small constant operands, folded with the
/// reference evaluator) and the symbolic contents of shape tensors, so that Reshape, Expand,
/// Slice and friends get precise shapes even when the model computes them. Symbolic dimensions
/// stay symbolic. Types declared in the model fill in what inference cannot know.
/// Errors are <see cref="KilnException"/>s that name the node and the mismatch.
/// Not thread-safe; one instance per run.
/// </summary>
public sealed class ShapeInference
{
    /// <summary>Operands larger than this are not folded during inference (folding is for shape arithmetic).</summary>
    public const long FoldElementLimit = 1 << 16;

    private readonly OpRegistry _registry;
    private readonly IReadOnlyDictionary<Value, IrType> _declared;
    private readonly Dictionary<Value, TensorData> _constants = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Value, Dim[]> _shapeValues = new(ReferenceEqualityComparer.Instance);
    private readonly ReferenceEvaluator _folder;

    public ShapeInference(OpRegistry? registry = null, IReadOnlyDictionary<Value, IrType>? declaredTypes = null)
    {
        _registry = registry ?? OpRegistry.Default;
        _declared = declaredTypes ?? new Dictionary<Value, IrType>();
        _folder = new ReferenceEvaluator(_registry);
    }

    /// <summary>Infers the types of every value in the graph and its nested graphs.</summary>
    public static void Run(Graph graph, IReadOnlyDictionary<Value, IrType>? declaredTypes = null, OpRegistry? registry = null) =>
        new ShapeInference(registry, declaredTypes).InferGraph(graph);

    public void InferGraph(Graph graph)
    {
        foreach (var op in graph.Operations) InferOperation(op);
    }

    /// <summary>
    /// Infers a nested graph. Loop and Scan infer their body again with more general input types
    /// when carried values change across iterations, so facts derived in an earlier round are
    /// dropped first: a stale constant or shape value would outlive the types it came from.
    /// </summary>
    internal void InferNested(Graph graph)
    {
        foreach (var op in graph.AllOperations())
            foreach (var r in op.Outputs)
                if (r is not null) { _constants.Remove(r); _shapeValues.Remove(r); }
        InferGraph(graph);
    }

    /// <summary>The compile-time value of a value, if known.</summary>
    public TensorData? ConstantOf(Value v) => _constants.GetValueOrDefault(v);

    /// <summary>The symbolic elements of a rank-0/1 integer tensor, if known (constants included).</summary>
    public Dim[]? ShapeValueOf(Value v)
    {
        if (_shapeValues.TryGetValue(v, out var dims)) return dims;
        if (_constants.TryGetValue(v, out var c) && c.ElementType.IsInteger() && c.Rank <= 1 && c.ElementCount <= 64)
            return c.ToInt64Array().Select(x => (Dim)x).ToArray();
        return null;
    }

    internal void SetShapeValue(Value v, Dim[] dims) => _shapeValues[v] = dims;

    /// <summary>
    /// The value of v when it is known at compile time: a constant, or a small integer tensor whose
    /// symbolic elements are all known sizes (Shape of a static tensor, and arithmetic on it). This is
    /// what lets shape computations of static models fold away completely.
    /// </summary>
    public TensorData? KnownValue(Value v)
    {
        if (_constants.TryGetValue(v, out var c)) return c;
        if (!_shapeValues.TryGetValue(v, out var dims) || !dims.All(d => d.IsKnown)) return null;
        if (v.Type is not TensorType { Shape.IsStatic: true } t || !(t.ElementType.IsInteger() || t.ElementType == ElementType.Bool)) return null;
        var shape = t.Shape.ToArray();
        if (shape.Length > 1 || TensorData.CheckedCount(shape) != dims.Length) return null;
        var known = Conversions.Convert(TensorData.FromInt64s(shape, dims.Select(d => d.Value).ToArray()), t.ElementType);
        _constants[v] = known;
        return known;
    }

    internal void SetType(Value v, IrType inferred) => v.Type = Merge(v, inferred);

    private void InferOperation(Operation op)
    {
        var def = _registry.Get(op);
        int inputs = op.Inputs.Count, outputs = op.Outputs.Count;
        if (inputs < def.MinInputs || inputs > def.MaxInputs)
            throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: takes {Arity(def.MinInputs, def.MaxInputs)} inputs, has {inputs}");
        if (outputs < def.MinOutputs || outputs > def.MaxOutputs)
            throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: has {Arity(def.MinOutputs, def.MaxOutputs)} outputs, node lists {outputs}");
        for (int i = 0; i < inputs; i++)
            if (i < def.MinInputs && op.Inputs[i] is null)
                throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: required input {i} is missing");

        var ctx = new InferenceContext(this, op);
        try
        {
            def.InferTypes(ctx);
        }
        catch (ShapeUnknownException)
        {
            // An operand of unknown rank: keep element types where inference got them, shapes unranked.
            foreach (var r in op.Outputs)
                if (r is not null && r.Type is TensorType t && t.Shape.IsRanked)
                    r.Type = new TensorType(t.ElementType, Shape.Unranked);
        }
        catch (KilnException) { throw; }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or IndexOutOfRangeException or OverflowException or DivideByZeroException)
        {
            throw new KilnException(ErrorCode.InvalidShape, $"{op.Describe()}: type inference failed: {e.Message}", e);
        }

        if (op.OpType == "Constant" && op.Domain.Length == 0 && op.GetTensor("value") is { } value && op.HasOutput(0))
            _constants[op.Output(0)] = value;
        else TryFold(op, def);
    }

    private static string Arity(int min, int max) => min == max ? $"{min}" : max == int.MaxValue ? $"at least {min}" : $"{min} to {max}";

    /// <summary>Folds a deterministic operation whose operands are all small known constants.</summary>
    private void TryFold(Operation op, OpDefinition def)
    {
        if (!def.IsDeterministic || op.NestedGraphs.Any()) return;
        // Only fold when every result is known to be small: a hostile or merely large
        // ConstantOfShape/Expand must not be materialized at compile time.
        foreach (var r in op.Outputs)
            if (r is not null && (r.Type is not TensorType { Shape: var s } || !s.IsStatic || s.ElementCount.Value > FoldElementLimit)) return;
        var args = new DataValue?[op.Inputs.Count];
        long total = 0;
        for (int i = 0; i < args.Length; i++)
        {
            if (op.Inputs[i] is not { } v) continue;
            if (KnownValue(v) is not { } c) return;
            total += c.ElementCount;
            if (total > FoldElementLimit) return;
            args[i] = c;
        }
        if (op.Inputs.Count == 0) return;
        DataValue?[] results;
        try { results = _folder.EvaluateOperation(op, args); }
        catch (KilnException) { return; } // leave it to run time, where the error will surface with real inputs
        for (int i = 0; i < results.Length; i++)
            if (op.Outputs[i] is { } r && results[i] is TensorData t && t.ElementCount <= FoldElementLimit)
            {
                _constants[r] = t;
                if (r.Type is TensorType tt && !tt.Shape.IsStatic) r.Type = new TensorType(tt.ElementType, Shape.Of(t.Shape));
            }
    }

    /// <summary>
    /// Combines an inferred type with the type the model declares: the inferred type wins where
    /// it is specific; declared dimensions replace unknown inferred ones.
    /// </summary>
    private IrType Merge(Value v, IrType inferred)
    {
        if (!_declared.TryGetValue(v, out var declared)) return inferred;
        if (inferred is TensorType it && declared is TensorType dt)
        {
            if (dt.ElementType != it.ElementType && dt.ElementType != ElementType.Undefined)
                return inferred;
            if (!it.Shape.IsRanked) return new TensorType(it.ElementType, dt.Shape);
            if (!dt.Shape.IsRanked || dt.Shape.Rank != it.Shape.Rank) return inferred;
            var dims = new Dim[it.Shape.Rank];
            for (int i = 0; i < dims.Length; i++)
                // A declared "?" adds nothing: the inferred unknown keeps its identity, so every value
                // that shares it (an elementwise chain after a data-dependent Reshape) stays one size.
                dims[i] = (it.Shape[i].IsUnknown && !dt.Shape[i].IsUnknown) || (it.Shape[i].IsSymbolic && dt.Shape[i].IsKnown) ? dt.Shape[i] : it.Shape[i];
            return new TensorType(it.ElementType, new Shape(dims));
        }
        return inferred;
    }
}
