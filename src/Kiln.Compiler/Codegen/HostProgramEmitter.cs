using Kiln.Compiler.Lowering;
using Kiln.Compiler.Targets;
using Kiln.Compiler.ModuleWriter;
using Kiln.Ir;
using Kiln.Runtime;
using Kiln.Runtime.Format;
using Kiln.Runtime.Vm;

namespace Kiln.Compiler.Codegen;

/// <summary>
/// Writes an <see cref="ExecutionPlan"/> as a module: a "main" function of VM bytecode that checks
/// its input tensors and binds their symbolic sizes, computes every size and offset it needs
/// (symbolic shapes become VM arithmetic; static ones constants), takes the planned arena and the
/// output buffers, dispatches the kernels, and returns output tensors. Kernels go into one
/// executable per format the target chooses (<see cref="CompileTarget.ExecutableFormat"/>).
/// An initializer function puts the constant segments in globals once per context.
/// </summary>
public sealed class HostProgramEmitter
{
    private readonly ExecutionPlan _plan;
    private readonly string _target;
    private readonly List<(string Format, List<KernelSpec> Kernels)> _executables = [];
    private readonly List<(int Executable, int Ordinal)> _kernelSlots = []; // by plan kernel ordinal
    private readonly ModuleBuilder _mb = new();
    private readonly BytecodeBuilder _code;
    private readonly Dictionary<Dim, ushort> _dimRegisters = [];
    private readonly Dictionary<string, ushort> _symbols = new(StringComparer.Ordinal);
    private readonly Dictionary<StorageBlock, (ushort Buffer, Dim Offset)> _blocks = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<int, ushort> _inputOffsets = [];
    // Sequences and optionals: one object register each, for the whole function (loops and branches assign them).
    private readonly Dictionary<ObjectRef, ushort> _objects = new(ReferenceEqualityComparer.Instance);

    private HostProgramEmitter(ExecutionPlan plan, string target)
    {
        _plan = plan;
        _target = target;
        _code = _mb.NewCode();
    }

    public static byte[] Emit(ExecutionPlan plan, string target = CompileTarget.Portable) => new HostProgramEmitter(plan, target).EmitModule();

    /// <summary>Numbers the plan's kernels and places each in the executable of its format (in order of first use).</summary>
    private void AssignKernels()
    {
        foreach (var step in Step.Flatten(_plan.Steps))
            if (step is DispatchStep d) _plan.KernelOrdinal(d.Kernel);
        foreach (var kernel in _plan.Kernels)
        {
            string format = CompileTarget.ExecutableFormat(_target, kernel.Family);
            int exe = _executables.FindIndex(e => e.Format == format);
            if (exe < 0)
            {
                _executables.Add((format, []));
                exe = _executables.Count - 1;
            }
            _kernelSlots.Add((exe, _executables[exe].Kernels.Count));
            _executables[exe].Kernels.Add(kernel);
        }
    }

    private int Import(string name) => name switch
    {
        "hal.view.check" => _mb.Import(name, 2, 1, 0, 0),
        "hal.view.dim" => _mb.Import(name, 1, 1, 1, 0),
        "hal.view.buffer" => _mb.Import(name, 0, 1, 0, 1),
        "hal.view.offset" => _mb.Import(name, 0, 1, 1, 0),
        "hal.view.create" => _mb.Import(name, 2, 1, 0, 1, ImportFlags.VariadicValues),
        "hal.buffer.arena" => _mb.Import(name, 1, 0, 0, 1),
        "hal.buffer.allocate" => _mb.Import(name, 1, 0, 0, 1),
        "hal.buffer.constant" => _mb.Import(name, 1, 0, 0, 1),
        "hal.buffer.store" => _mb.Import(name, 3, 1, 0, 0),
        "hal.buffer.load" => _mb.Import(name, 2, 1, 1, 0),
        "hal.buffer.copy" => _mb.Import(name, 3, 2, 0, 0),
        "hal.dispatch" => _mb.Import(name, 3, 0, 0, 0, ImportFlags.VariadicValues | ImportFlags.VariadicRefs),
        "seq.empty" => _mb.Import(name, 1, 0, 0, 1),
        "seq.length" => _mb.Import(name, 0, 1, 1, 0),
        "seq.at" => _mb.Import(name, 1, 1, 0, 1),
        "seq.insert" => _mb.Import(name, 1, 2, 0, 1),
        "seq.erase" => _mb.Import(name, 1, 1, 0, 1),
        "seq.concat" => _mb.Import(name, 2, 1, 0, 1),
        "seq.split" => _mb.Import(name, 2, 2, 0, 1),
        "str.constant" => _mb.Import(name, 1, 0, 0, 1, ImportFlags.VariadicValues),
        "str.check" => _mb.Import(name, 1, 1, 0, 0),
        "str.dim" => _mb.Import(name, 1, 1, 1, 0),
        "str.concat" => _mb.Import(name, 0, 2, 0, 1),
        "str.equal" => _mb.Import(name, 0, 2, 0, 1),
        "str.regex_full_match" => _mb.Import(name, 1, 1, 0, 1),
        "str.normalize" => _mb.Import(name, 3, 1, 0, 1),
        "str.split" => _mb.Import(name, 2, 1, 0, 2),
        "str.label_encoder" => _mb.Import(name, 0, 4, 0, 1),
        _ => throw new ArgumentException(name),
    };

    private byte[] EmitModule()
    {
        AssignKernels();
        EmitInitializer();
        foreach (var seg in _plan.ConstantSegments) _mb.AddSegment(seg.AsBytes().ToArray());
        foreach (var list in _plan.StringLists) _mb.AddStringList(list);

        int inputs = _plan.Inputs.Count;
        _code.ReserveArguments(0, inputs);
        for (int i = 0; i < inputs; i++) BindInput(i);
        if (!_plan.ArenaBytes.Equals((Dim)0))
        {
            var arena = _code.NewRef();
            _code.CallImport(Import("hal.buffer.arena"), [Value(_plan.ArenaBytes)], [], [], [arena]);
            foreach (var b in _plan.Blocks.Where(b => b.Kind == StorageKind.Arena && b.LastUse >= 0 && !b.Deferred)) _blocks[b] = (arena, b.ArenaOffset);
        }
        foreach (var b in _plan.Blocks.Where(b => b.Kind == StorageKind.Output && !b.Deferred))
        {
            var buffer = _code.NewRef();
            _code.CallImport(Import("hal.buffer.allocate"), [Value(b.Bytes)], [], [], [buffer]);
            _blocks[b] = (buffer, 0);
        }
        EmitSteps(_plan.Steps);

        var results = new List<ushort>();
        foreach (var (_, output, o) in _plan.Outputs)
        {
            if (o is not null) { results.Add(ObjectRegister(o)); continue; }
            var t = output!;
            var view = _code.NewRef();
            var (buffer, offset) = Locate(t);
            var args = new List<ushort> { Value(offset), Value((long)t.DType) };
            args.AddRange(t.Shape.Select(Value));
            _code.CallImport(Import("hal.view.create"), args, [buffer], [], [view]);
            results.Add(view);
        }
        _code.Return([], results);
        foreach (var (format, kernels) in _executables)
        {
            int exe = _mb.AddExecutable(format);
            foreach (var k in kernels) _mb.AddKernel(exe, k.Family, k.Descriptor, k.BindingCount, k.ConstantCount);
        }
        int main = _mb.AddFunction("main", _code, 0, inputs, 0, results.Count);
        int sig = _mb.AddSignature(
            _plan.Inputs.Select(i => i.Object is { } o ? Parameter(i.Name, o) : Parameter(i.Name, i.Tensor!)).ToArray(),
            _plan.Outputs.Select(o => o.Object is { } x ? Parameter(o.Name, x) : Parameter(o.Name, o.Tensor!)).ToArray());
        _mb.Export("main", main, sig);
        return _mb.ToArray();
    }

    private static SignatureParameter Parameter(string name, TensorRef t) =>
        new(name, t.DType, t.Shape.Select(d => d.IsKnown ? (d.Value, (string?)null) : (-1L, d.Expression is DimExpr.Sym s ? s.Name : null)).ToArray());

    /// <summary>A sequence, optional or string-tensor parameter: its tensors' dtype and dims (any rank when unranked).</summary>
    private static SignatureParameter Parameter(string name, ObjectRef o)
    {
        var type = o.Type;
        if (type is TensorType { ElementType: ElementType.String } st)
            return new(name, DType.String, st.Shape.IsRanked
                ? st.Shape.Dims.Select(d => d.IsKnown ? (d.Value, (string?)null) : (-1L, d.Expression is DimExpr.Sym s ? s.Name : null)).ToArray()
                : null, ParameterKind.StringTensor);
        bool optional = type is OptionalType;
        if (type is OptionalType opt) type = opt.ElementType;
        bool sequence = type is SequenceType;
        if (type is SequenceType seq) type = seq.ElementType;
        var t = (TensorType)type;
        var kind = sequence ? (optional ? ParameterKind.OptionalSequence : ParameterKind.Sequence) : ParameterKind.OptionalTensor;
        (long, string?)[]? dims = t.Shape.IsRanked
            ? t.Shape.Dims.Select(d => d.IsKnown ? (d.Value, (string?)null) : (-1L, d.Expression is DimExpr.Sym s ? s.Name : null)).ToArray()
            : null;
        return new(name, (DType)(byte)t.ElementType, dims, kind);
    }

    /// <summary>Constant segments as buffers, in globals, once per context.</summary>
    private void EmitInitializer()
    {
        int n = _plan.ConstantSegments.Count;
        if (n == 0) { _mb.SetGlobals(0, 0); return; }
        var init = _mb.NewCode();
        var r = init.NewRef();
        for (int i = 0; i < n; i++)
        {
            init.CallImport(Import("hal.buffer.constant"), [init.Const(i)], [], [], [r]);
            init.GlobalStoreRef(i, r);
        }
        init.Return([], []);
        int f = _mb.AddFunction("__init", init, 0, 0, 0, 0);
        _mb.SetGlobals(0, n, f);
    }

    /// <summary>A string tensor input: checks its kind and rank, binds its symbolic sizes (asserting static ones and repeated symbols).</summary>
    private void BindStringInput(string name, ushort input, Shape shape)
    {
        _code.CallImport(Import("str.check"), [Value(shape.Rank)], [input], [], []);
        for (int d = 0; d < shape.Rank; d++)
        {
            var dim = shape[d];
            if (!dim.IsKnown && dim.Expression is not DimExpr.Sym) continue; // a size the model leaves open
            var size = _code.NewValue();
            _code.CallImport(Import("str.dim"), [Value(d)], [input], [size], []);
            if (dim.Expression is DimExpr.Sym s && !_symbols.ContainsKey(s.Name))
            {
                _symbols[s.Name] = size;
                _dimRegisters[dim] = size;
            }
            else _code.Assert(_code.Binary(Opcode.Eq, size, Value(dim)), $"input '{name}' must have shape {shape} (dimension {d})");
        }
    }

    /// <summary>Checks input i's dtype and rank, binds its symbolic sizes (asserting static ones and repeated symbols).</summary>
    private void BindInput(int i)
    {
        var (name, tensor, declared, o) = _plan.Inputs[i];
        var view = (ushort)i;
        if (o is not null)
        {
            // A sequence or optional: the imports that use it check its type.
            _objects[o] = view;
            if (o.Type is TensorType { ElementType: ElementType.String, Shape.IsRanked: true } st) BindStringInput(name, view, st.Shape);
            return;
        }
        var t = tensor!;
        _code.CallImport(Import("hal.view.check"), [Value((long)t.DType), Value(t.Rank)], [view], [], []);
        for (int d = 0; d < t.Rank; d++)
        {
            var size = _code.NewValue();
            _code.CallImport(Import("hal.view.dim"), [Value(d)], [view], [size], []);
            var dim = t.Shape[d];
            if (dim.Expression is DimExpr.Sym s && !_symbols.ContainsKey(s.Name))
            {
                _symbols[s.Name] = size;
                _dimRegisters[dim] = size;
            }
            else _code.Assert(_code.Binary(Opcode.Eq, size, Value(dim)), $"input '{name}' must have shape {declared} (dimension {d})");
        }
        var buffer = _code.NewRef();
        _code.CallImport(Import("hal.view.buffer"), [], [view], [], [buffer]);
        var offset = _code.NewValue();
        _code.CallImport(Import("hal.view.offset"), [], [view], [offset], []);
        _blocks[t.Block] = (buffer, 0);
        _inputOffsets[i] = offset;
    }

    private (ushort Buffer, Dim Offset) Locate(TensorRef t)
    {
        if (t.Block.Kind == StorageKind.Constant && !_blocks.ContainsKey(t.Block))
        {
            var r = _code.NewRef();
            _code.GlobalLoadRef(r, t.Block.Index);
            _blocks[t.Block] = (r, 0);
        }
        var (buffer, offset) = _blocks[t.Block];
        return (buffer, offset + t.ByteOffset);
    }

    /// <summary>Byte offset register of a tensor in its buffer (inputs add their view's own offset).</summary>
    private ushort OffsetRegister(TensorRef t)
    {
        var (_, offset) = Locate(t);
        var r = Value(offset);
        return t.Block.Kind == StorageKind.Input ? _code.Binary(Opcode.Add, r, _inputOffsets[t.Block.Index]) : r;
    }

    /// <summary>The host reads a tensor's first element into a new register (waiting for the work that computes it).</summary>
    private ushort LoadScalar(TensorRef t)
    {
        var value = _code.NewValue();
        _code.CallImport(Import("hal.buffer.load"), [OffsetRegister(t), Value((long)t.DType)], [Locate(t).Buffer], [value], []);
        return value;
    }

    /// <summary>
    /// Buffers for deferred blocks (sizes that follow from data) the step touches, allocated before
    /// it, so before a branch or loop rather than inside it (its registers outlive the scope) unless
    /// its size is read inside.
    /// </summary>
    private void AllocateDeferred(Step step)
    {
        foreach (var t in step.Reads.Concat(step.Writes))
        {
            if (!t.Block.Deferred || _blocks.ContainsKey(t.Block)) continue;
            // Sized by a value the branch or loop itself reads: allocated inside it, where it is first used.
            if (step.Children.Any() && !Computable(t.Block.Bytes)) continue;
            var buffer = _code.NewRef();
            _code.CallImport(Import("hal.buffer.allocate"), [Value(t.Block.Bytes)], [], [], [buffer]);
            _blocks[t.Block] = (buffer, 0);
        }
    }

    private bool Computable(Dim d) => _dimRegisters.ContainsKey(d) || d.Expression is not { } e || e.Symbols().All(_symbols.ContainsKey);

    private ushort ObjectRegister(ObjectRef o)
    {
        if (!_objects.TryGetValue(o, out var r)) _objects[o] = r = _code.NewRef();
        return r;
    }

    /// <summary>Fails the invocation with <paramref name="message"/> when an object register holds none.</summary>
    private void AssertNotNone(ushort register, string message)
    {
        var isNull = _code.NewValue();
        _code.IsNull(isNull, register);
        _code.Assert(_code.Binary(Opcode.Eq, isNull, Value(0)), message);
    }

    private void EmitObjectStep(Step step)
    {
        switch (step)
        {
            case ObjectStep call:
            {
                var refs = call.Objects.Select(o =>
                {
                    if (o is not null) return ObjectRegister(o);
                    var none = _code.NewRef();
                    _code.ClearRef(none);
                    return none;
                }).ToList();
                var values = call.Values.Select(Value).ToList();
                var valueResults = new List<ushort>();
                if (call.ValueSymbol is { } sym)
                {
                    var r = _code.NewValue();
                    valueResults.Add(r);
                    _code.CallImport(Import(call.Import), values, refs, valueResults, call.Results.Select(ObjectRegister).ToList());
                    _symbols[sym] = r;
                }
                else _code.CallImport(Import(call.Import), values, refs, [], call.Results.Select(ObjectRegister).ToList());
                break;
            }
            case MoveObjectStep move:
                if (move.Source is null) _code.ClearRef(ObjectRegister(move.Destination));
                else
                {
                    if (move.NoneMessage is { } message) AssertNotNone(ObjectRegister(move.Source), message);
                    _code.MoveRef(ObjectRegister(move.Destination), ObjectRegister(move.Source));
                }
                break;
            case TensorToObjectStep make:
            {
                var t = make.Source;
                var (buffer, offset) = (Locate(t).Buffer, OffsetRegister(t));
                if (make.Copy)
                {
                    var owned = _code.NewRef();
                    _code.CallImport(Import("hal.buffer.allocate"), [Value(t.ByteLength)], [], [], [owned]);
                    _code.CallImport(Import("hal.buffer.copy"), [offset, Value(0), Value(t.ByteLength)], [buffer, owned], [], []);
                    (buffer, offset) = (owned, Value(0));
                }
                var args = new List<ushort> { offset, Value((long)t.DType) };
                args.AddRange(t.Shape.Select(Value));
                _code.CallImport(Import("hal.view.create"), args, [buffer], [], [ObjectRegister(make.Destination)]);
                break;
            }
            case ViewTensorStep take:
            {
                var view = ObjectRegister(take.Source);
                if (take.NoneMessage.Length > 0) AssertNotNone(view, take.NoneMessage);
                _code.CallImport(Import("hal.view.check"), [Value((long)take.DType), Value(take.DimSymbols.Count)], [view], [], []);
                for (int d = 0; d < take.DimSymbols.Count; d++)
                {
                    var size = _code.NewValue();
                    _code.CallImport(Import("hal.view.dim"), [Value(d)], [view], [size], []);
                    _symbols[take.DimSymbols[d]] = size;
                }
                var buffer = _code.NewRef();
                _code.CallImport(Import("hal.view.buffer"), [], [view], [], [buffer]);
                var offset = _code.NewValue();
                _code.CallImport(Import("hal.view.offset"), [], [view], [offset], []);
                _symbols[take.OffsetSymbol] = offset;
                _blocks[take.Block] = (buffer, Dim.Symbol(take.OffsetSymbol));
                break;
            }
            case HasObjectStep has:
            {
                var isNull = _code.NewValue();
                _code.IsNull(isNull, ObjectRegister(has.Source));
                _code.CallImport(Import("hal.buffer.store"), [OffsetRegister(has.Destination), Value((long)DType.Bool), _code.Binary(Opcode.Eq, isNull, Value(0))],
                    [Locate(has.Destination).Buffer], [], []);
                break;
            }
            default: throw new InvalidOperationException($"unknown step {step.GetType().Name}");
        }
    }

    private void EmitSteps(IReadOnlyList<Step> steps)
    {
        foreach (var step in steps) EmitStep(step);
    }

    /// <summary>
    /// Emits steps on a path that may not run (a branch) or runs repeatedly (a loop body): registers it
    /// computes are forgotten afterwards, so later code never reads a register its path did not set.
    /// </summary>
    private void EmitScoped(IReadOnlyList<Step> steps)
    {
        var dims = new Dictionary<Dim, ushort>(_dimRegisters);
        var blocks = new Dictionary<StorageBlock, (ushort, Dim)>(_blocks, ReferenceEqualityComparer.Instance);
        EmitSteps(steps);
        _dimRegisters.Clear();
        foreach (var (k, v) in dims) _dimRegisters[k] = v;
        _blocks.Clear();
        foreach (var (k, v) in blocks) _blocks[k] = v;
    }

    private void EmitStep(Step step)
    {
        AllocateDeferred(step);
        switch (step)
        {
            case IfStep branch:
            {
                // The host reads the condition (waiting for the work that computes it), then branches.
                var flag = LoadScalar(branch.Condition);
                var otherwise = _code.NewLabel();
                var end = _code.NewLabel();
                _code.BranchUnless(flag, otherwise);
                EmitScoped(branch.Then);
                _code.Branch(end);
                _code.Mark(otherwise);
                EmitScoped(branch.Else);
                _code.Mark(end);
                break;
            }
            case ForStep loop:
            {
                var count = Value(loop.Count);
                var one = Value(1);
                var index = _code.NewValue();
                _code.ConstI64(index, 0);
                var top = _code.NewLabel();
                var end = _code.NewLabel();
                _code.Mark(top);
                _code.BranchUnless(_code.Binary(Opcode.Lt, index, count), end);
                if (loop.Condition is { } condition)
                {
                    _code.BranchUnless(LoadScalar(condition), end);
                }
                _symbols[loop.Index] = index;
                EmitScoped(loop.Body);
                _symbols.Remove(loop.Index);
                _code.Binary(Opcode.Add, index, index, one);
                _code.Branch(top);
                _code.Mark(end);
                break;
            }
            case DispatchStep d:
            {
                var bindings = d.Inputs.Concat(d.Outputs).ToList();
                var (exe, ordinal) = _kernelSlots[_plan.KernelOrdinal(d.Kernel)];
                var values = new List<ushort> { Value(exe), Value(ordinal), Value(bindings.Count) };
                var refs = new List<ushort>();
                foreach (var t in bindings)
                {
                    refs.Add(Locate(t).Buffer);
                    values.Add(OffsetRegister(t));
                    values.Add(Value(t.ByteLength));
                }
                values.AddRange(d.Constants.Select(Value));
                if (values.Count > 255 || refs.Count > 255) throw new KilnException(ErrorCode.Unsupported, $"{d.Origin}: a dispatch with {values.Count} values is too large");
                _code.CallImport(Import("hal.dispatch"), values, refs, [], []);
                break;
            }
            case ReadDimStep read:
            {
                _symbols[read.Symbol] = LoadScalar(read.Source);
                break;
            }
            case CheckStep check:
                _code.Assert(_code.Binary(Opcode.Eq, Value(check.Left), Value(check.Right)), check.Message);
                break;
            case CopyStep c:
                _code.CallImport(Import("hal.buffer.copy"), [OffsetRegister(c.Source), OffsetRegister(c.Destination), Value(c.Source.ByteLength)],
                    [Locate(c.Source).Buffer, Locate(c.Destination).Buffer], [], []);
                break;
            case StoreDimsStep s:
            {
                var baseOffset = OffsetRegister(s.Destination);
                for (int i = 0; i < s.Values.Count; i++)
                    _code.CallImport(Import("hal.buffer.store"), [_code.Binary(Opcode.Add, baseOffset, Value(8 * i)), Value((long)DType.Int64), Value(s.Values[i])],
                        [Locate(s.Destination).Buffer], [], []);
                break;
            }
            default: EmitObjectStep(step); break;
        }
    }

    /// <summary>A register holding a dimension's value: constants once each, symbolic expressions computed once each.</summary>
    private ushort Value(Dim d)
    {
        if (_dimRegisters.TryGetValue(d, out var r)) return r;
        if (d.TryGetValue(out long v)) r = _code.Const(v);
        else r = Expression(d.Expression!);
        _dimRegisters[d] = r;
        return r;
    }

    private ushort Value(long v) => Value((Dim)v);

    private ushort Expression(DimExpr e) => e switch
    {
        DimExpr.Const c => Value(c.Value),
        DimExpr.Sym s => _symbols.TryGetValue(s.Name, out var r) ? r
            : throw new KilnException(ErrorCode.UnsupportedOperator, $"size '{s.Name}' is not a dimension of any input, so the compiled program cannot compute it"),
        DimExpr.Bin b => _code.Binary(b.Op switch
        {
            DimOp.Add => Opcode.Add,
            DimOp.Mul => Opcode.Mul,
            DimOp.FloorDiv => Opcode.DivFloor,
            DimOp.CeilDiv => Opcode.DivCeil,
            DimOp.Mod => Opcode.ModFloor,
            DimOp.Max => Opcode.Max,
            DimOp.Eq => Opcode.Eq,
            DimOp.Lt => Opcode.Lt,
            _ => Opcode.Min,
        }, Value(Dim.FromExpression(b.Left)), Value(Dim.FromExpression(b.Right))),
        _ => throw new KilnException(ErrorCode.UnsupportedOperator, "a size known only at run time from data"),
    };
}
