using Kiln.Ir;
using Kiln.Runtime;

namespace Kiln.Compiler.Lowering;

/// <summary>Lowers one operation into steps of an <see cref="ExecutionPlan"/>.</summary>
public delegate void LowerOperation(LoweringContext ctx);

/// <summary>Marks a static class with <c>public static void Register(LoweringRegistry registry)</c>, found by reflection.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class LoweringsAttribute : System.Attribute { }

/// <summary>Lowerings by operator. Built once; immutable afterwards and safe to share.</summary>
public sealed class LoweringRegistry
{
    private readonly Dictionary<(string, string), LowerOperation> _lowerings = [];

    private static readonly Lazy<LoweringRegistry> s_default = new(() =>
    {
        var r = new LoweringRegistry();
        foreach (var type in typeof(LoweringRegistry).Assembly.GetTypes())
        {
            if (!type.IsDefined(typeof(LoweringsAttribute), false)) continue;
            var m = type.GetMethod("Register", [typeof(LoweringRegistry)])
                ?? throw new InvalidOperationException($"[Lowerings] class {type.Name} has no public static Register(LoweringRegistry)");
            m.Invoke(null, [r]);
        }
        return r;
    });

    public static LoweringRegistry Default => s_default.Value;

    public void Add(string opType, LowerOperation lower, string domain = "")
    {
        if (!_lowerings.TryAdd((domain, opType), lower)) throw new InvalidOperationException($"lowering for {opType} registered twice");
    }

    public bool TryGet(Operation op, out LowerOperation lower) => _lowerings.TryGetValue((op.Domain, op.OpType), out lower!);

    public bool Supports(string domain, string opType) => _lowerings.ContainsKey((domain, opType));
}

/// <summary>
/// What a lowering sees: the operation, its operands as <see cref="TensorRef"/>s (and their
/// values when they are constants), and ways to define results, allocate temporaries and add
/// dispatch steps. Created by <see cref="Lowerer"/> for one operation at a time.
/// </summary>
public sealed class LoweringContext
{
    private readonly Lowerer _lowerer;

    internal LoweringContext(Lowerer lowerer, Operation op)
    {
        _lowerer = lowerer;
        Op = op;
    }

    public Operation Op { get; }
    public ExecutionPlan Plan => _lowerer.Plan;

    public bool HasInput(int i) => Op.OptionalInput(i) is not null;
    public TensorRef Input(int i) => _lowerer.TensorOf(Op.Input(i));
    public TensorRef? OptionalInput(int i) => Op.OptionalInput(i) is { } v ? _lowerer.TensorOf(v) : null;

    /// <summary>The operand's value when it is a compile-time constant.</summary>
    public TensorData? Constant(int i) => Op.OptionalInput(i) is { } v ? _lowerer.ConstantOf(v) : null;

    public ElementType InputElementType(int i) => Op.Input(i).TensorType.ElementType;
    public ElementType OutputElementType(int i) => Op.Output(i).TensorType.ElementType;

    /// <summary>Operand i's shape (without making a constant operand a tensor of the module).</summary>
    public Dim[] InputShape(int i) => _lowerer.ShapeOf(Op.Input(i), Op);

    /// <summary>The result's shape; symbolic sizes are fine, sizes that follow from data once <see cref="DefineOutputShape"/> gave them.</summary>
    public Dim[] OutputShape(int i) => _lowerer.ShapeOf(Op.Output(i), Op);

    /// <summary>
    /// Result i's shape as computed at run time from operands (<see cref="ShapeOperands"/>): defines the
    /// sizes inference could not know, checks the ones it knows or the model declares.
    /// </summary>
    public void DefineOutputShape(int i, Dim[] computed) => _lowerer.DefineDataDims(Op.Output(i), Op, computed);

    /// <summary>Allocates storage for result i (an output buffer if it is a graph output, else arena).</summary>
    public TensorRef NewOutput(int i) => _lowerer.NewResult(Op.Output(i), Op);

    /// <summary>Result i is <paramref name="tensor"/> (a view: no data moves).</summary>
    public void SetOutput(int i, TensorRef tensor) => _lowerer.Bind(Op.Output(i), tensor);

    /// <summary>A new constant tensor (a constant segment of the module): weights repacked for a kernel, precomputed tables.</summary>
    public TensorRef NewConstant(TensorData value) => _lowerer.AddConstant(value);

    /// <summary>A scratch tensor in the arena.</summary>
    public TensorRef NewTemporary(DType dtype, Dim[] shape) => _lowerer.NewArenaTensor(dtype, shape);

    public void Dispatch(KernelSpec kernel, IReadOnlyList<TensorRef> inputs, IReadOnlyList<TensorRef> outputs, IReadOnlyList<Dim> constants) =>
        _lowerer.Emit(new DispatchStep(kernel, inputs, outputs, constants, Op.Describe()));

    public void Add(Step step) => _lowerer.Emit(step);

    /// <summary>Whether operand i is a sequence, optional or string tensor (an object of the host program) rather than a tensor.</summary>
    public bool IsObject(int i) => Op.OptionalInput(i) is { } v && _lowerer.IsObject(v);
    public ObjectRef ObjectInput(int i) => _lowerer.ObjectOf(Op.Input(i));

    /// <summary>Operand i as a string-tensor object: a string value of the program, or a string constant made one ("str.constant").</summary>
    public ObjectRef StringInput(int i)
    {
        if (IsObject(i)) return ObjectInput(i);
        if (Constant(i) is { ElementType: ElementType.String } c) return _lowerer.StringConstant(c, "strings");
        throw Unsupported($"operand {i} is not a string tensor");
    }

    /// <summary>A string-tensor object holding <paramref name="items"/> in <paramref name="shape"/> (a constant list of the module).</summary>
    public ObjectRef StringConstant(string[] items, long[] shape, string hint) =>
        _lowerer.StringConstant(TensorData.Create(ElementType.String, shape, items), hint);

    /// <summary>Operand i as lowered: a <see cref="TensorRef"/> or an <see cref="ObjectRef"/>.</summary>
    public object InputValue(int i) => _lowerer.ValueOf(Op.Input(i));

    /// <summary>A new object register for result i (a sequence or optional).</summary>
    public ObjectRef NewObjectOutput(int i) => _lowerer.NewObject(Op.Output(i), Op);

    /// <summary>Result i is <paramref name="value"/> (a tensor or an object).</summary>
    public void SetOutputValue(int i, object value)
    {
        if (value is ObjectRef o) _lowerer.BindObject(Op.Output(i), o);
        else _lowerer.Bind(Op.Output(i), (TensorRef)value);
    }

    /// <summary>Result i is the tensor the view object <paramref name="source"/> holds (sizes read at run time and checked against the declared ones).</summary>
    public TensorRef ViewOutput(int i, ObjectRef source, string noneMessage) => _lowerer.BindView(Op.Output(i), source, Op, noneMessage);

    /// <summary>Graph input <paramref name="v"/> of a nested graph is the tensor the view object holds.</summary>
    public TensorRef BindView(Value v, ObjectRef source, string noneMessage) => _lowerer.BindView(v, source, Op, noneMessage);

    /// <summary>Lowers a nested graph whose inputs and results may be tensors or objects.</summary>
    public object[] LowerNestedValues(Graph graph, IReadOnlyList<object> inputs) => _lowerer.LowerNestedValues(graph, inputs);

    /// <summary>Lowers a nested graph (a branch or a loop body) here, its inputs bound to the given tensors; returns its outputs' tensors.</summary>
    public TensorRef[] LowerNested(Graph graph, IReadOnlyList<TensorRef> inputs) => _lowerer.LowerNested(graph, inputs);

    /// <summary>Runs <paramref name="emit"/> and returns the steps it added (for the body of a branch or loop) instead of adding them here.</summary>
    public List<Step> Collect(Action emit) => _lowerer.Collect(emit);

    /// <summary>A fresh name for a symbolic size that only the host program knows (a loop index).</summary>
    public string NewSymbol(string hint) => _lowerer.NewSymbol(hint);

    public static DType DTypeOf(ElementType t) => (DType)(byte)t;

    public KilnException Unsupported(string why) =>
        new(ErrorCode.UnsupportedOperator, $"{Op.Describe()}: not supported by the compiled path: {why}");
}
