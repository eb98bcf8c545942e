using Kiln.Ir;
using Kiln.Runtime;

namespace Kiln.Compiler.Lowering;

/// <summary>Where a tensor's bytes live in the compiled program.</summary>
public enum StorageKind
{
    /// <summary>A function argument (the caller's tensor).</summary>
    Input,
    /// <summary>A constant segment of the module, used in place.</summary>
    Constant,
    /// <summary>A range of the invocation's planned arena (offset chosen by the memory planner).</summary>
    Arena,
    /// <summary>A buffer allocated for a function result, handed to the caller.</summary>
    Output,
    /// <summary>
    /// A tensor the program takes out of a sequence or an optional at run time (<see cref="ViewTensorStep"/>):
    /// its buffer, offset and sizes are read from the view object when the step runs.
    /// </summary>
    View,
}

/// <summary>
/// A block of bytes some tensors live in: one per input, constant segment, output, or arena
/// allocation. Views (reshapes) share their source's block.
/// </summary>
public sealed class StorageBlock(StorageKind kind, int index, Dim bytes)
{
    public StorageKind Kind { get; } = kind;
    /// <summary>Input or output position, or constant segment index.</summary>
    public int Index { get; } = index;
    public Dim Bytes { get; } = bytes;
    /// <summary>For arena blocks: the byte offset the planner chose.</summary>
    public Dim ArenaOffset { get; set; }
    /// <summary>
    /// Its size depends on values the host program reads from tensors (set by memory planning): it
    /// gets a buffer of its own when the program reaches its first use, not a place in the arena
    /// (whose size is computed before anything runs).
    /// </summary>
    public bool Deferred { get; set; }
    /// <summary>For arena blocks: the first and last step that touch it (set by liveness analysis).</summary>
    public int FirstUse { get; set; } = int.MaxValue;
    public int LastUse { get; set; } = -1;
    public override string ToString() => Kind switch
    {
        StorageKind.Arena when Deferred => $"deferred[{Bytes}]",
        StorageKind.Arena => $"arena[{ArenaOffset}+{Bytes}]",
        _ => $"{Kind.ToString().ToLowerInvariant()}{Index}",
    };
}

/// <summary>A tensor of the compiled program: element type, shape, and the block and byte offset it lives at.</summary>
public sealed class TensorRef(DType dtype, Dim[] shape, StorageBlock block, Dim byteOffset)
{
    public DType DType { get; } = dtype;
    public Dim[] Shape { get; } = shape;
    public StorageBlock Block { get; } = block;
    public Dim ByteOffset { get; } = byteOffset;
    public Dim ElementCount => Shape.Aggregate((Dim)1, (a, b) => a * b);
    public Dim ByteLength => ElementCount * DType.Size();
    public int Rank => Shape.Length;

    /// <summary>The same bytes seen with another shape (reshape, squeeze, flatten: no data moves).</summary>
    public TensorRef View(Dim[] shape) => new(DType, shape, Block, ByteOffset);

    public override string ToString() => $"{DType.Name()}[{string.Join(",", Shape)}]@{Block}";
}

/// <summary>A kernel to include in the module's executable: a kernel family and its descriptor.</summary>
public sealed record KernelSpec(string Family, byte[] Descriptor, int BindingCount, int ConstantCount)
{
    public bool SameAs(KernelSpec other) => Family == other.Family && BindingCount == other.BindingCount
        && ConstantCount == other.ConstantCount && Descriptor.AsSpan().SequenceEqual(other.Descriptor);
}

/// <summary>A step of the compiled program.</summary>
public abstract class Step
{
    public abstract IEnumerable<TensorRef> Reads { get; }
    public abstract IEnumerable<TensorRef> Writes { get; }

    /// <summary>Symbols this step gives values read at run time (sizes that follow from data).</summary>
    public virtual IEnumerable<string> DefinedSymbols => [];

    /// <summary>Steps nested in this one (branches, loop bodies); none for simple steps.</summary>
    public virtual IEnumerable<Step> Children => [];

    /// <summary>These steps and every step nested in them, in program order.</summary>
    public static IEnumerable<Step> Flatten(IEnumerable<Step> steps) =>
        steps.SelectMany(s => Flatten(s.Children).Prepend(s));
}

/// <summary>Run a kernel over bindings with push constants (symbolic sizes allowed; the host program computes them).</summary>
public sealed class DispatchStep(KernelSpec kernel, IReadOnlyList<TensorRef> inputs, IReadOnlyList<TensorRef> outputs, IReadOnlyList<Dim> constants, string origin) : Step
{
    public KernelSpec Kernel { get; } = kernel;
    public IReadOnlyList<TensorRef> Inputs { get; } = inputs;
    public IReadOnlyList<TensorRef> Outputs { get; } = outputs;
    public IReadOnlyList<Dim> Constants { get; } = constants;
    /// <summary>The operations this step comes from (for dumps and errors).</summary>
    public string Origin { get; } = origin;
    public override IEnumerable<TensorRef> Reads => Inputs;
    public override IEnumerable<TensorRef> Writes => Outputs;
    public override string ToString() => $"dispatch {Kernel.Family} ({string.Join(", ", Inputs)}) -> ({string.Join(", ", Outputs)})  // {Origin}";
}

/// <summary>Copy bytes between tensors (an output that is an input or a constant, ...).</summary>
public sealed class CopyStep(TensorRef source, TensorRef destination) : Step
{
    public TensorRef Source { get; } = source;
    public TensorRef Destination { get; } = destination;
    public override IEnumerable<TensorRef> Reads => [Source];
    public override IEnumerable<TensorRef> Writes => [Destination];
    public override string ToString() => $"copy {Source} -> {Destination}";
}

/// <summary>Write values computed by the host program (symbolic dimensions) into a small int64 tensor (Shape of a dynamic tensor).</summary>
public sealed class StoreDimsStep(TensorRef destination, IReadOnlyList<Dim> values) : Step
{
    public TensorRef Destination { get; } = destination;
    public IReadOnlyList<Dim> Values { get; } = values;
    public override IEnumerable<TensorRef> Reads => [];
    public override IEnumerable<TensorRef> Writes => [Destination];
    public override string ToString() => $"store [{string.Join(", ", Values)}] -> {Destination}";
}

/// <summary>Fails the invocation with <see cref="Message"/> unless two sizes are equal at run time (symbolic sizes the compiler could not prove equal).</summary>
public sealed class CheckStep(Dim left, Dim right, string message) : Step
{
    public Dim Left { get; } = left;
    public Dim Right { get; } = right;
    public string Message { get; } = message;
    public override IEnumerable<TensorRef> Reads => [];
    public override IEnumerable<TensorRef> Writes => [];
    public override string ToString() => $"check {Left} == {Right}";
}

/// <summary>Reads one integer element of a tensor into the symbolic size <see cref="Symbol"/> (a loop's trip count given at run time).</summary>
public sealed class ReadDimStep(TensorRef source, string symbol) : Step
{
    public TensorRef Source { get; } = source;
    public string Symbol { get; } = symbol;
    public override IEnumerable<TensorRef> Reads => [Source];
    public override IEnumerable<TensorRef> Writes => [];
    public override IEnumerable<string> DefinedSymbols => [Symbol];
    public override string ToString() => $"{Symbol} = load {Source}";
}

/// <summary>Runs one of two step lists, chosen by a bool scalar the host program reads at run time.</summary>
public sealed class IfStep(TensorRef condition, IReadOnlyList<Step> then, IReadOnlyList<Step> otherwise) : Step
{
    public TensorRef Condition { get; } = condition;
    public IReadOnlyList<Step> Then { get; } = then;
    public IReadOnlyList<Step> Else { get; } = otherwise;
    public override IEnumerable<TensorRef> Reads => Then.Concat(Else).SelectMany(s => s.Reads).Prepend(Condition);
    public override IEnumerable<TensorRef> Writes => Then.Concat(Else).SelectMany(s => s.Writes);
    public override IEnumerable<Step> Children => Then.Concat(Else);
    public override string ToString() =>
        $"if {Condition}\n" + string.Join("\n", Then.Select(s => "    " + s)) + "\n  else\n" + string.Join("\n", Else.Select(s => "    " + s));
}

/// <summary>
/// Runs a step list <see cref="Count"/> times; inside it, the symbolic size <see cref="Index"/>
/// is the iteration number (0, 1, ...), so dispatches can address a different slice each time.
/// </summary>
public sealed class ForStep(Dim count, string index, IReadOnlyList<Step> body, TensorRef? condition = null) : Step
{
    public Dim Count { get; } = count;
    public string Index { get; } = index;
    public IReadOnlyList<Step> Body { get; } = body;

    /// <summary>A bool scalar read before each iteration: the loop ends when it is false (ONNX Loop's condition).</summary>
    public TensorRef? Condition { get; } = condition;
    public override IEnumerable<TensorRef> Reads => Condition is null ? Body.SelectMany(s => s.Reads) : Body.SelectMany(s => s.Reads).Append(Condition);
    public override IEnumerable<TensorRef> Writes => Body.SelectMany(s => s.Writes);
    public override IEnumerable<Step> Children => Body;
    public override string ToString() => $"for {Index} < {Count}\n" + string.Join("\n", Body.Select(s => "    " + s));
}

/// <summary>
/// The lowered program of one function: its inputs, outputs, constants, storage blocks and steps,
/// ready for memory planning and bytecode emission.
/// </summary>
public sealed class ExecutionPlan
{
    /// <summary>Parameters in order: each a tensor (with its declared shape) or a sequence or optional object.</summary>
    public List<(string Name, TensorRef? Tensor, Shape? DeclaredShape, ObjectRef? Object)> Inputs { get; } = [];
    public List<(string Name, TensorRef? Tensor, ObjectRef? Object)> Outputs { get; } = [];
    public List<TensorData> ConstantSegments { get; } = [];
    public List<StorageBlock> Blocks { get; } = [];
    public List<Step> Steps { get; } = [];
    public List<KernelSpec> Kernels { get; } = [];
    /// <summary>Constant lists of strings (string constants' elements, patterns, stopwords), written to the module's string-list table in this order.</summary>
    public List<string[]> StringLists { get; } = [];

    /// <summary>The index of a constant string list, adding it if it is new (identical lists are shared).</summary>
    public int StringList(IReadOnlyList<string> items)
    {
        for (int i = 0; i < StringLists.Count; i++) if (StringLists[i].AsSpan().SequenceEqual(items.ToArray())) return i;
        StringLists.Add(items.ToArray());
        return StringLists.Count - 1;
    }

    /// <summary>The ordinal of a kernel in the module's executable, adding it if it is new (identical kernels are shared).</summary>
    public int KernelOrdinal(KernelSpec spec)
    {
        for (int i = 0; i < Kernels.Count; i++) if (Kernels[i].SameAs(spec)) return i;
        Kernels.Add(spec);
        return Kernels.Count - 1;
    }

    /// <summary>Total arena bytes after planning.</summary>
    public Dim ArenaBytes { get; set; } = 0;

    public override string ToString()
    {
        var sb = new System.Text.StringBuilder();
        foreach (var (n, t, _, o) in Inputs) sb.Append($"input {n}: {(object?)t ?? o}\n");
        foreach (var s in Steps) sb.Append("  ").Append(s).Append('\n');
        foreach (var (n, t, o) in Outputs) sb.Append($"output {n}: {(object?)t ?? o}\n");
        sb.Append($"arena {ArenaBytes} bytes, {ConstantSegments.Count} constant segments, {Kernels.Count} kernels\n");
        return sb.ToString();
    }
}
