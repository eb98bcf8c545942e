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
    private readonly Dictionary<Value, ObjectRef> _objects = new(ReferenceEqualityComparer.Instance);

    // Symbols the host program knows a value of: input sizes, and sizes read from views taken out of
    // sequences (a symbol first met there takes that view's size; met again, it is checked).
    private readonly HashSet<string> _boundSymbols = new(StringComparer.Ordinal);

    // Sizes inference could not know (they follow from data): each unknown dimension, by identity,
    // gets the expression over run-time reads that the lowering of its producer computed.
    private readonly Dictionary<DimExpr, Dim> _dataDims = new(ReferenceEqualityComparer.Instance);

    public ExecutionPlan Plan { get; } = new();

    // Where steps go: the plan's list, or a nested graph's while it is being lowered.
    private List<Step> _steps;
    private int _symbols;

    internal void Emit(Step step) => _steps.Add(step);

    internal string NewSymbol(string hint) => $"kiln.{hint}.{_symbols++}";

    public Lowerer(LoweringRegistry? registry = null)
    {
        _registry = registry ?? LoweringRegistry.Default;
        _steps = Plan.Steps;
    }

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
            if (v.Type is not TensorType tt || tt.ElementType == ElementType.String)
            {
                CheckObjectType(v.Type, $"input '{v.Name}'");
                var o = new ObjectRef(v.Type, v.Name);
                _objects[v] = o;
                Plan.Inputs.Add((v.Name, null, null, o));
                // A string tensor's sizes are bound by the host program (str.dim), as a tensor's are.
                if (v.Type is TensorType { Shape.IsRanked: true } st)
                    foreach (var d in st.Shape) if (d.Expression is DimExpr.Sym sym) _boundSymbols.Add(sym.Name);
                continue;
            }
            CheckDType(tt.ElementType, $"input '{v.Name}'");
            var shape = StaticOrSymbolicShape(v, null);
            foreach (var d in shape) if (d.Expression is { } e) _boundSymbols.UnionWith(e.Symbols());
            var block = NewBlock(StorageKind.Input, i, shape.Aggregate((Dim)1, (a, b) => a * b) * DTypeOf(tt.ElementType).Size());
            var t = new TensorRef(DTypeOf(tt.ElementType), shape, block, 0);
            _tensors[v] = t;
            Plan.Inputs.Add((v.Name, t, tt.Shape, null));
        }
        // The first listing of a value as a graph output gets the output buffer directly.
        for (int i = 0; i < g.Outputs.Count; i++) _outputIndex.TryAdd(g.Outputs[i], i);

        LowerOperations(g);

        for (int i = 0; i < g.Outputs.Count; i++)
        {
            var v = g.Outputs[i];
            if (_objects.TryGetValue(v, out var o))
            {
                Plan.Outputs.Add((v.Name, null, o));
                continue;
            }
            if (_constants.TryGetValue(v, out var value) && value.ElementType == ElementType.String)
            {
                Plan.Outputs.Add((v.Name, null, StringConstant(value, v.Name)));
                continue;
            }
            var t = TensorOf(v);
            if (t.Block.Kind != StorageKind.Output || t.Block.Index != i)
            {
                // An input, a constant, a view, or a repeated output: copy into a buffer of its own.
                var block = NewBlock(StorageKind.Output, i, t.ByteLength);
                var copy = new TensorRef(t.DType, t.Shape, block, 0);
                Plan.Steps.Add(new CopyStep(t, copy));
                t = copy;
            }
            Plan.Outputs.Add((v.Name, t, null));
        }
    }

    internal TensorRef[] LowerNested(Graph g, IReadOnlyList<TensorRef> inputs) =>
        LowerNestedValues(g, inputs).Select((x, i) => x as TensorRef ?? throw new KilnException(ErrorCode.UnsupportedOperator,
            $"graph '{g.Name}': not supported by the compiled path here: result {i} is {g.Outputs[i].Type}")).ToArray();

    /// <summary>Lowers a nested graph whose inputs and results may be tensors (<see cref="TensorRef"/>) or objects (<see cref="ObjectRef"/>).</summary>
    internal object[] LowerNestedValues(Graph g, IReadOnlyList<object> inputs)
    {
        if (inputs.Count != g.Inputs.Count) throw new InvalidOperationException($"graph '{g.Name}' takes {g.Inputs.Count} inputs");
        for (int i = 0; i < inputs.Count; i++)
        {
            if (inputs[i] is ObjectRef o) _objects[g.Inputs[i]] = o;
            else _tensors[g.Inputs[i]] = (TensorRef)inputs[i];
        }
        LowerOperations(g);
        return g.Outputs.Select(ValueOf).ToArray();
    }

    /// <summary>A lowered value: its tensor, or its object when it is a sequence or optional.</summary>
    internal object ValueOf(Value v) => _objects.TryGetValue(v, out var o) ? o : TensorOf(v);

    internal bool IsObject(Value v) => _objects.ContainsKey(v);

    internal ObjectRef ObjectOf(Value v) => _objects.TryGetValue(v, out var o) ? o
        : throw new InvalidOperationException($"value '{v.Name}' is not a lowered sequence or optional");

    /// <summary>A new object register for result <paramref name="v"/> (a sequence or optional).</summary>
    internal ObjectRef NewObject(Value v, Operation op)
    {
        CheckObjectType(v.Type, op.Describe());
        return _objects[v] = new ObjectRef(v.Type, v.Name);
    }

    internal void BindObject(Value v, ObjectRef o) => _objects[v] = o;

    /// <summary>
    /// Result <paramref name="v"/> is the tensor the view object <paramref name="source"/> holds: its
    /// sizes are read at run time (a symbol not met before takes the view's size), and sizes the model
    /// declares are checked against them.
    /// </summary>
    internal TensorRef BindView(Value v, ObjectRef source, Operation op, string noneMessage)
    {
        if (v.Type is not TensorType { Shape.IsRanked: true } tt)
            throw new KilnException(ErrorCode.UnsupportedOperator, $"{op.Describe()}: not supported by the compiled path: '{v.Name}' has an unknown rank");
        CheckDType(tt.ElementType, op.Describe());
        var names = new string[tt.Shape.Rank];
        for (int i = 0; i < names.Length; i++)
            names[i] = tt.Shape[i].Expression is DimExpr.Sym s && _boundSymbols.Add(s.Name) ? s.Name : NewSymbol("dim");
        var block = NewBlock(StorageKind.View, -1, 0);
        var dtype = DTypeOf(tt.ElementType);
        Emit(new ViewTensorStep(source, block, dtype, names, NewSymbol("offset"), noneMessage));
        DefineDataDims(v, op, names.Select(Dim.Symbol).ToArray());
        return _tensors[v] = new TensorRef(dtype, ShapeOf(v, op), block, 0);
    }

    /// <summary>
    /// A constant string tensor as a string-tensor object: its elements become a constant string list
    /// of the module, made a tensor of its shape by "str.constant" where it is used.
    /// </summary>
    internal ObjectRef StringConstant(TensorData value, string hint)
    {
        var o = new ObjectRef(new TensorType(ElementType.String, Shape.Of(value.Shape.Select(d => (Dim)d).ToArray())), NewSymbol(hint));
        var values = new List<Dim> { Plan.StringList(value.Data<string>()) };
        values.AddRange(value.Shape.Select(d => (Dim)d));
        Emit(new ObjectStep("str.constant", [], values, o));
        return o;
    }

    /// <summary>The compiled path holds string tensors, sequences of tensors, optional tensors and optional sequences of tensors.</summary>
    private static void CheckObjectType(IrType type, string what)
    {
        if (type is TensorType { ElementType: ElementType.String }) return;
        var inner = type is OptionalType o ? o.ElementType : type;
        if (inner is SequenceType s) inner = s.ElementType;
        if (inner is not TensorType tt)
            throw new KilnException(ErrorCode.UnsupportedOperator, $"{what}: not supported by the compiled path: {type} values");
        CheckDType(tt.ElementType, what);
    }

    internal List<Step> Collect(Action emit)
    {
        var outer = _steps;
        var steps = new List<Step>();
        _steps = steps;
        // A size a view defines inside a branch or loop body is known there only: code after it (or
        // the other branch) defines it again from its own view rather than reading a register never set.
        var bound = new HashSet<string>(_boundSymbols, StringComparer.Ordinal);
        try { emit(); }
        finally
        {
            _steps = outer;
            _boundSymbols.Clear();
            _boundSymbols.UnionWith(bound);
        }
        return steps;
    }

    private void LowerOperations(Graph g)
    {
        foreach (var op in g.Operations)
        {
            if (op.OpType == "Constant" && op.Domain.Length == 0)
            {
                // A constant becomes a segment only when something reads it as a tensor: weights a
                // kernel repacks at compile time are stored once, in the kernel's layout.
                var value = op.GetTensor("value")!;
                // String constants are allowed: the string lowerings make them objects (StringConstant); a tensor use fails in TensorOf.
                if (value.ElementType != ElementType.String) CheckDType(value.ElementType, op.Describe());
                _constants[op.Output(0)] = value;
                continue;
            }
            if (op.OpType == "Identity" && op.Domain.Length == 0 && _objects.TryGetValue(op.Input(0), out var same))
            {
                _objects[op.Output(0)] = same; // objects are immutable: the same register serves
                continue;
            }
            if (!_registry.TryGet(op, out var lower) && op.NestedGraphs.Any())
                throw new KilnException(ErrorCode.UnsupportedOperator, $"{op.Describe()}: not supported by the compiled path: control flow (nested graphs)");
            if (lower is null)
                throw new KilnException(ErrorCode.UnsupportedOperator, $"{op.Describe()}: not supported by the compiled path: no lowering for {op.QualifiedType}");
            foreach (var input in op.Inputs)
                if (input is not null && !_tensors.ContainsKey(input) && !_constants.ContainsKey(input) && !_objects.ContainsKey(input))
                    throw new KilnException(ErrorCode.UnsupportedOperator, $"{op.Describe()}: not supported by the compiled path: operand '{input.Name}' is not a tensor value");
            lower(new LoweringContext(this, op));
            for (int i = 0; i < op.Outputs.Count; i++)
                if (op.Outputs[i] is { } r && !_tensors.ContainsKey(r) && !_objects.ContainsKey(r))
                    throw new InvalidOperationException($"{op.Describe()}: its lowering did not define result {i}");
        }
    }

    internal TensorRef TensorOf(Value v)
    {
        if (_tensors.TryGetValue(v, out var t)) return t;
        if (v.Type is TensorType { ElementType: ElementType.String })
            throw new KilnException(ErrorCode.UnsupportedOperator,
                $"not supported by the compiled path: '{v.Name}' is a string tensor, which only the string operators (StringConcat, StringSplit, StringNormalizer, RegexFullMatch, Equal, LabelEncoder) take");
        if (_constants.TryGetValue(v, out var value)) return _tensors[v] = AddConstant(value);
        throw new InvalidOperationException($"value '{v.Name}' has not been lowered");
    }

    /// <summary>A new constant segment holding <paramref name="value"/>.</summary>
    internal TensorRef AddConstant(TensorData value)
    {
        int segment = Plan.ConstantSegments.Count;
        Plan.ConstantSegments.Add(value);
        var block = NewBlock(StorageKind.Constant, segment, value.AsBytes().Length);
        return new TensorRef(DTypeOf(value.ElementType), value.Shape.Select(d => (Dim)d).ToArray(), block, 0);
    }

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
        var shape = ShapeOf(v, op);
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

    /// <summary>A graph input's shape: dims known statically or symbolically (never from data).</summary>
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

    /// <summary>
    /// A value's shape, with every size that depends on data replaced by the run-time expression its
    /// producer's lowering defined (<see cref="DefineDataDims"/>); fails when one is still unknown.
    /// </summary>
    internal Dim[] ShapeOf(Value v, Operation? op)
    {
        string where = op is null ? $"input '{v.Name}'" : op.Describe();
        if (v.Type is not TensorType { Shape.IsRanked: true } tt)
            throw new KilnException(ErrorCode.UnsupportedOperator, $"{where}: not supported by the compiled path: '{v.Name}' has an unknown rank");
        var dims = new Dim[tt.Shape.Rank];
        for (int i = 0; i < dims.Length; i++)
            dims[i] = Resolve(tt.Shape[i]) ?? throw new KilnException(ErrorCode.UnsupportedOperator,
                $"{where}: not supported by the compiled path: the shape of '{v.Name}' ({tt.Shape}) depends on data its producer cannot compute at run time");
        return dims;
    }

    /// <summary>The dimension with its data-dependent parts substituted; null if one is not defined.</summary>
    private Dim? Resolve(Dim d) => d.Expression is { } e && ContainsUnknown(e) ? Substitute(e) : d;

    private Dim? Substitute(DimExpr e)
    {
        // A whole expression a producer defined (a declared size such as dft_length / 2 + 1).
        if (_dataDims.TryGetValue(e, out var defined)) return defined;
        switch (e)
        {
            case DimExpr.Unknown: return _dataDims.TryGetValue(e, out var known) ? known : null;
            case DimExpr.Bin b:
                if (Substitute(b.Left) is not { } l || Substitute(b.Right) is not { } r) return null;
                return b.Op switch
                {
                    DimOp.Add => l + r,
                    DimOp.Mul => l * r,
                    DimOp.FloorDiv => l / r,
                    DimOp.CeilDiv => Dim.CeilDiv(l, r),
                    DimOp.Mod => l % r,
                    DimOp.Max => Dim.Max(l, r),
                    DimOp.Min => Dim.Min(l, r),
                    DimOp.Eq => Dim.Eq(l, r),
                    _ => Dim.Lt(l, r),
                };
            default: return Dim.FromExpression(e);
        }
    }

    /// <summary>
    /// Gives result <paramref name="v"/> the sizes <paramref name="computed"/> (expressions the host
    /// program evaluates at run time): a size inference left unknown takes its expression; a size
    /// the model declares or inference knows is checked against it (at compile time when both are
    /// static, else by a run-time check naming <paramref name="op"/>).
    /// </summary>
    internal void DefineDataDims(Value v, Operation op, Dim[] computed)
    {
        if (v.Type is not TensorType { Shape.IsRanked: true } tt || tt.Shape.Rank != computed.Length)
            throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: its operands give a rank-{computed.Length} result, '{v.Name}' is declared {v.Type}");
        for (int i = 0; i < computed.Length; i++)
        {
            var declared = tt.Shape[i];
            if (declared.IsUnknown)
            {
                if (_dataDims.TryGetValue(declared.Expression!, out var defined) && !(defined == computed[i]))
                    Emit(new CheckStep(defined, computed[i], $"{op.Describe()}: size {i} of '{v.Name}' differs from the size computed before"));
                else _dataDims[declared.Expression!] = computed[i];
                continue;
            }
            if (Resolve(declared) is not { } expected)
            {
                // An expression of sizes not defined yet: the computed size defines the expression as a whole.
                _dataDims[declared.Expression!] = computed[i];
                continue;
            }
            var same = Dim.Eq(computed[i], expected);
            string message = $"{op.Describe()}: its operands at run time give '{v.Name}' size {computed[i]} in dimension {i}, the compiled program has {expected}";
            if (same.TryGetValue(out long s)) { if (s == 0) throw new KilnException(ErrorCode.InvalidModel, message); }
            else Emit(new CheckStep(same, 1, message));
        }
    }

    private static bool ContainsUnknown(DimExpr e) => e switch
    {
        DimExpr.Unknown => true,
        DimExpr.Bin b => ContainsUnknown(b.Left) || ContainsUnknown(b.Right),
        _ => false,
    };
}