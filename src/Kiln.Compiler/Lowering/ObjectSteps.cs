using Kiln.Ir;

namespace Kiln.Compiler.Lowering;

/// <summary>
/// A sequence, optional or string-tensor value of the compiled program: one object register of the
/// host program (an optional that holds nothing is null). Steps assign it; a loop-carried or branch result is
/// assigned on every path, so it is a variable rather than a single definition.
/// </summary>
public sealed class ObjectRef(IrType type, string name)
{
    public IrType Type { get; } = type;
    public string Name { get; } = name;
    public override string ToString() => $"%{Name}: {Type}";
}

/// <summary>
/// A call of a "seq" or "str" import (<c>Kiln.Runtime.Vm.SequenceModule</c>, <c>StringModule</c>) on
/// objects and sizes, giving objects (a sequence, a string tensor, a view) or a size the host program
/// knows from then on.
/// </summary>
public sealed class ObjectStep(string import, IReadOnlyList<ObjectRef?> objects, IReadOnlyList<Dim> values, ObjectRef? result, string? valueSymbol = null,
    IReadOnlyList<ObjectRef>? moreResults = null) : Step
{
    /// <summary>Every object result: <see cref="Result"/>, then the others (StringSplit gives two).</summary>
    public IReadOnlyList<ObjectRef> Results { get; } = result is null ? moreResults ?? [] : [result, .. moreResults ?? []];
    public string Import { get; } = import;
    /// <summary>Object arguments; null passes a null object (an absent operand).</summary>
    public IReadOnlyList<ObjectRef?> Objects { get; } = objects;
    public IReadOnlyList<Dim> Values { get; } = values;
    public ObjectRef? Result { get; } = result;
    public string? ValueSymbol { get; } = valueSymbol;
    public override IEnumerable<TensorRef> Reads => [];
    public override IEnumerable<TensorRef> Writes => [];
    public override IEnumerable<string> DefinedSymbols => ValueSymbol is null ? [] : [ValueSymbol];
    public override string ToString() =>
        $"{(Results.Count > 0 ? string.Join(", ", Results.Select(r => r.Name)) : ValueSymbol)} = {Import}({string.Join(", ", Objects.Select(o => o?.Name ?? "null").Concat(Values.Select(v => v.ToString())))})";
}

/// <summary>Assigns an object (or none, when <see cref="Source"/> is null) to another: Optional, Identity, branch and loop results.</summary>
public sealed class MoveObjectStep(ObjectRef? source, ObjectRef destination, string? noneMessage = null) : Step
{
    public ObjectRef? Source { get; } = source;
    public ObjectRef Destination { get; } = destination;
    /// <summary>When set, a none source fails the invocation with this message (OptionalGetElement).</summary>
    public string? NoneMessage { get; } = noneMessage;
    public override IEnumerable<TensorRef> Reads => [];
    public override IEnumerable<TensorRef> Writes => [];
    public override string ToString() => $"{Destination.Name} = {Source?.Name ?? "none"}";
}

/// <summary>
/// A tensor as a view object: in a buffer of its own, copied (what goes into a sequence or optional
/// must outlive the arena), or in place (an operand a "seq" import reads while recording its copies).
/// </summary>
public sealed class TensorToObjectStep(TensorRef source, ObjectRef destination, bool copy) : Step
{
    public TensorRef Source { get; } = source;
    public ObjectRef Destination { get; } = destination;
    public bool Copy { get; } = copy;
    public override IEnumerable<TensorRef> Reads => [Source];
    public override IEnumerable<TensorRef> Writes => [];
    public override string ToString() => $"{Destination.Name} = {(Copy ? "copy" : "view")} {Source}";
}

/// <summary>
/// The tensor a view object holds becomes the bytes of <see cref="Block"/> (a <see cref="StorageKind.View"/>
/// block): the host checks its dtype and rank, reads its sizes into <see cref="DimSymbols"/> and its
/// offset into <see cref="OffsetSymbol"/>. Fails with <see cref="NoneMessage"/> when the object is none.
/// </summary>
public sealed class ViewTensorStep(ObjectRef source, StorageBlock block, Runtime.DType dtype, IReadOnlyList<string> dimSymbols, string offsetSymbol, string noneMessage) : Step
{
    public ObjectRef Source { get; } = source;
    public StorageBlock Block { get; } = block;
    public Runtime.DType DType { get; } = dtype;
    public IReadOnlyList<string> DimSymbols { get; } = dimSymbols;
    public string OffsetSymbol { get; } = offsetSymbol;
    public string NoneMessage { get; } = noneMessage;
    public override IEnumerable<TensorRef> Reads => [];
    public override IEnumerable<TensorRef> Writes => [];
    public override IEnumerable<string> DefinedSymbols => DimSymbols.Append(OffsetSymbol);
    public override string ToString() => $"{Block} = view {Source.Name} [{string.Join(",", DimSymbols)}]";
}

/// <summary>Writes whether an optional holds a value into a bool scalar (OptionalHasElement).</summary>
public sealed class HasObjectStep(ObjectRef source, TensorRef destination) : Step
{
    public ObjectRef Source { get; } = source;
    public TensorRef Destination { get; } = destination;
    public override IEnumerable<TensorRef> Reads => [];
    public override IEnumerable<TensorRef> Writes => [Destination];
    public override string ToString() => $"{Destination} = has {Source.Name}";
}
