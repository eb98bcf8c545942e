using Kiln.Runtime.Format;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Vm;

/// <summary>
/// A parameter of a function: name, kind (a tensor, a sequence of tensors, an optional of either, a
/// string tensor), dtype, and dims (null for a symbolic size, named in Symbols). For a sequence,
/// dtype and rank are its tensors'; their sizes may differ from one tensor to the next.
/// </summary>
public sealed record TensorParameter(string Name, DType DType, long?[] Dims, string?[] Symbols, ParameterKind Kind = ParameterKind.Tensor, bool AnyRank = false)
{
    public bool IsSequence => Kind is ParameterKind.Sequence or ParameterKind.OptionalSequence;
    public bool IsOptional => Kind is ParameterKind.OptionalTensor or ParameterKind.OptionalSequence;
    public bool IsString => Kind is ParameterKind.StringTensor;

    public override string ToString()
    {
        string t = AnyRank ? $"{DType.Name()}[*]" : $"{DType.Name()}[{string.Join(",", Dims.Select((d, i) => d?.ToString() ?? Symbols[i] ?? "?"))}]";
        if (IsSequence) t = $"seq<{t}>";
        return $"{Name}: {(IsOptional ? $"opt<{t}>" : t)}";
    }
}

/// <summary>
/// An exported function of a context. Invoke it with tensors (<see cref="BufferView"/>s wrapping
/// arrays, spans or System.Numerics.Tensors tensors); it returns new output tensors the caller owns.
/// Functions that take or return sequences, optionals or strings are called with <see cref="InvokeValues"/>:
/// each value is a <see cref="BufferView"/>, a <see cref="TensorSequence"/>, a <see cref="StringTensor"/>,
/// or null (an empty optional).
/// Inputs are checked against the function's signature first (count, kind, dtype, rank, sizes, symbols).
/// Thread-safe: concurrent calls use separate invocation states.
/// </summary>
public sealed class Function
{
    private readonly Context _context;
    private readonly int _function;

    internal Function(Context context, int export)
    {
        _context = context;
        var m = context.Module;
        var e = m.Export(export);
        Name = m.String(e.Name);
        _function = (int)e.Function;
        var rec = m.Function(_function);
        if (rec.ValueArgs != 0 || rec.ValueResults != 0)
            throw new KilnRuntimeException(StatusCode.InvalidArgument, $"function '{Name}' takes or returns plain values; only tensor functions can be invoked");
        if (e.Signature != uint.MaxValue)
        {
            var sig = m.Signature((int)e.Signature);
            Inputs = Enumerable.Range(0, sig.InputCount).Select(i => Parameter(m, (int)sig.FirstParameter + i)).ToArray();
            Outputs = Enumerable.Range(0, sig.OutputCount).Select(i => Parameter(m, (int)sig.FirstParameter + sig.InputCount + i)).ToArray();
        }
        else
        {
            Inputs = [];
            Outputs = [];
        }
        InputCount = rec.RefArgs;
        OutputCount = rec.RefResults;
    }

    public string Name { get; }
    public int InputCount { get; }
    public int OutputCount { get; }
    public IReadOnlyList<TensorParameter> Inputs { get; }
    public IReadOnlyList<TensorParameter> Outputs { get; }

    private static TensorParameter Parameter(Module m, int index)
    {
        var p = m.Parameter(index);
        bool anyRank = p.Rank == ModuleFormat.AnyRank;
        int rank = anyRank ? 0 : p.Rank;
        var dims = new long?[rank];
        var symbols = new string?[rank];
        for (int i = 0; i < rank; i++)
        {
            var d = m.Dim((int)p.FirstDim + i);
            if (d.Size >= 0) dims[i] = d.Size;
            else symbols[i] = m.String(d.Symbol);
        }
        return new TensorParameter(m.String(p.Name), (DType)p.DType, dims, symbols, (ParameterKind)p.Kind, anyRank);
    }

    /// <summary>Runs the function and returns its outputs (owned by the caller).</summary>
    public BufferView[] Invoke(params BufferView[] inputs) => Invoke(inputs, Timeout.InfiniteTimeSpan, CancellationToken.None);

    /// <summary>Runs the function; the host program stops with an error when cancelled or past <paramref name="timeout"/>.</summary>
    public BufferView[] Invoke(BufferView[] inputs, TimeSpan timeout, CancellationToken cancellation) =>
        Tensors(InvokeValues(ToObjects(inputs), timeout, cancellation));

    /// <summary>
    /// Runs a function whose inputs or outputs may be sequences, optionals or string tensors: each
    /// value is a <see cref="BufferView"/>, a <see cref="TensorSequence"/>, a <see cref="StringTensor"/>,
    /// or null for an empty optional.
    /// </summary>
    public object?[] InvokeValues(object?[] inputs) => InvokeValues(inputs, Timeout.InfiniteTimeSpan, CancellationToken.None);

    public object?[] InvokeValues(object?[] inputs, TimeSpan timeout, CancellationToken cancellation)
    {
        CheckInputs(inputs);
        var inv = _context.Rent();
        inv.Cancellation = cancellation;
        if (timeout != Timeout.InfiniteTimeSpan) inv.DeadlineTicks = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        try
        {
            var results = new object?[OutputCount];
            inv.Call(_function, [], inputs, [], results);
            inv.Flush();
            return CheckOutputs(results);
        }
        finally { _context.Return(inv); }
    }

    /// <summary>
    /// Runs the function without blocking the caller: the host program records its commands here,
    /// the device runs them, and the task completes when the device signals completion.
    /// </summary>
    public async Task<BufferView[]> InvokeAsync(BufferView[] inputs, CancellationToken cancellation = default) =>
        Tensors(await InvokeValuesAsync(ToObjects(inputs), cancellation).ConfigureAwait(false));

    /// <summary><see cref="InvokeValues(object?[])"/> without blocking the caller.</summary>
    public async Task<object?[]> InvokeValuesAsync(object?[] inputs, CancellationToken cancellation = default)
    {
        CheckInputs(inputs);
        var inv = _context.Rent();
        inv.Cancellation = cancellation;
        try
        {
            var results = new object?[OutputCount];
            inv.Call(_function, [], inputs, [], results);
            await inv.FlushAsync(cancellation).ConfigureAwait(false);
            return CheckOutputs(results);
        }
        finally { _context.Return(inv); }
    }

    // A loop rather than a lambda: a non-capturing lambda is cached in a hidden static field.
    private static object?[] ToObjects(BufferView[] inputs)
    {
        var values = new object?[inputs.Length];
        for (int i = 0; i < values.Length; i++) values[i] = inputs[i];
        return values;
    }

    private BufferView[] Tensors(object?[] results)
    {
        var outputs = new BufferView[results.Length];
        for (int i = 0; i < outputs.Length; i++)
            outputs[i] = results[i] as BufferView ?? throw new KilnRuntimeException(StatusCode.InvalidArgument,
                $"function '{Name}' output {i} is {Describe(results[i])}, not a tensor: call InvokeValues");
        return outputs;
    }

    /// <summary>Every output is of its declared kind (a function without a signature returns tensors).</summary>
    private object?[] CheckOutputs(object?[] results)
    {
        for (int i = 0; i < results.Length; i++)
        {
            var kind = Outputs.Count > i ? Outputs[i].Kind : ParameterKind.Tensor;
            bool ok = results[i] switch
            {
                null => kind is ParameterKind.OptionalTensor or ParameterKind.OptionalSequence,
                BufferView => kind is ParameterKind.Tensor or ParameterKind.OptionalTensor,
                TensorSequence => kind is ParameterKind.Sequence or ParameterKind.OptionalSequence,
                StringTensor => kind is ParameterKind.StringTensor,
                _ => false,
            };
            if (ok && results[i] is StringTensor s && Outputs.Count > i && !HasShape(Outputs[i], s.Shape))
                throw new KilnRuntimeException(StatusCode.Aborted, $"function '{Name}' output {i} is {s}, which does not have the declared shape {Outputs[i]}");
            if (!ok) throw new KilnRuntimeException(StatusCode.Aborted, $"function '{Name}' returned {Describe(results[i])} for output {i}");
        }
        return results;
    }

    private static string Describe(object? value) => value switch
    {
        null => "none",
        BufferView v => $"a tensor {v}",
        TensorSequence s => $"a sequence {s}",
        StringTensor s => $"a string tensor {s}",
        _ => $"a {value.GetType().Name}",
    };

    /// <summary>A result's rank and static sizes are the declared ones (sizes that follow from data are not declared).</summary>
    private static bool HasShape(TensorParameter p, ReadOnlySpan<long> shape)
    {
        if (p.AnyRank) return true;
        if (shape.Length != p.Dims.Length) return false;
        for (int d = 0; d < shape.Length; d++)
            if (p.Dims[d] is long want && want != shape[d]) return false;
        return true;
    }

    private void CheckInputs(object?[] inputs)
    {
        if (inputs.Length != InputCount)
            throw new KilnRuntimeException(StatusCode.InvalidArgument, $"function '{Name}' takes {InputCount} inputs, {inputs.Length} given");
        if (Inputs.Count == 0)
        {
            // Without a signature, only tensors can be checked for: the host program takes its arguments as they come.
            for (int i = 0; i < inputs.Length; i++)
                if (inputs[i] is not BufferView) throw new KilnRuntimeException(StatusCode.InvalidArgument, $"input {i} must be a tensor, got {Describe(inputs[i])}");
            return;
        }
        Dictionary<string, long>? symbols = null; // only models with symbolic sizes need it
        for (int i = 0; i < inputs.Length; i++)
        {
            var p = Inputs[i];
            switch (inputs[i])
            {
                case null when p.IsOptional: break;
                case BufferView t when !p.IsSequence && !p.IsString: CheckTensor(p, t, ref symbols); break;
                case StringTensor s when p.IsString: CheckShape(p, s.Shape, s.ToString(), ref symbols); break;
                case TensorSequence s when p.IsSequence:
                    if (s.ElementType != p.DType) throw new KilnRuntimeException(StatusCode.InvalidArgument, $"input '{p.Name}' must be a sequence of {p.DType.Name()} tensors, got {s}");
                    foreach (var t in s.Items) CheckTensor(p, t, ref symbols);
                    break;
                default:
                    throw new KilnRuntimeException(StatusCode.InvalidArgument, $"input '{p.Name}' must be {KindName(p)}, got {Describe(inputs[i])}");
            }
        }
    }

    private static string KindName(TensorParameter p) => p.Kind switch
    {
        ParameterKind.Tensor => "a tensor",
        ParameterKind.Sequence => "a sequence",
        ParameterKind.OptionalTensor => "a tensor or none",
        ParameterKind.StringTensor => "a string tensor",
        _ => "a sequence or none",
    };

    private static void CheckTensor(TensorParameter p, BufferView t, ref Dictionary<string, long>? symbols)
    {
        if (t.DType != p.DType) throw new KilnRuntimeException(StatusCode.InvalidArgument, $"input '{p.Name}' must be {p.DType.Name()}, got {t.DType.Name()}");
        CheckShape(p, t.Shape, t.ToString(), ref symbols);
    }

    /// <summary>Rank and sizes against the parameter; a symbol of a tensor or string tensor takes one size across inputs.</summary>
    private static void CheckShape(TensorParameter p, ReadOnlySpan<long> shape, string t, ref Dictionary<string, long>? symbols)
    {
        if (p.AnyRank) return;
        if (shape.Length != p.Dims.Length) throw new KilnRuntimeException(StatusCode.InvalidArgument, $"input '{p.Name}' must have shape {p} (rank {p.Dims.Length}), got {t}");
        for (int d = 0; d < shape.Length; d++)
        {
            long size = shape[d];
            if (p.Dims[d] is long want && want != size)
                throw new KilnRuntimeException(StatusCode.InvalidArgument, $"input '{p.Name}' must have shape {p}, got {t} (dimension {d})");
            if (p.Symbols[d] is { Length: > 0 } sym && p.Kind is ParameterKind.Tensor or ParameterKind.StringTensor)
            {
                symbols ??= new Dictionary<string, long>(StringComparer.Ordinal);
                if (symbols.TryGetValue(sym, out long bound) && bound != size)
                    throw new KilnRuntimeException(StatusCode.InvalidArgument, $"input '{p.Name}' dimension {d} is {sym} = {size}, but {sym} = {bound} in an earlier input");
                symbols[sym] = size;
            }
        }
    }
}
