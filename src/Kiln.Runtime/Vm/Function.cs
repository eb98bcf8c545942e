using Kiln.Runtime.Format;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Vm;

/// <summary>A tensor parameter of a function: name, dtype, and dims (null for a symbolic size, named in Symbols).</summary>
public sealed record TensorParameter(string Name, DType DType, long?[] Dims, string?[] Symbols)
{
    public override string ToString() =>
        $"{Name}: {DType.Name()}[{string.Join(",", Dims.Select((d, i) => d?.ToString() ?? Symbols[i] ?? "?"))}]";
}

/// <summary>
/// An exported function of a context. Invoke it with tensors (<see cref="BufferView"/>s wrapping
/// arrays, spans or System.Numerics.Tensors tensors); it returns new output tensors the caller owns.
/// Inputs are checked against the function's signature first (count, dtype, rank, sizes, symbols).
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
        var dims = new long?[p.Rank];
        var symbols = new string?[p.Rank];
        for (int i = 0; i < p.Rank; i++)
        {
            var d = m.Dim((int)p.FirstDim + i);
            if (d.Size >= 0) dims[i] = d.Size;
            else symbols[i] = m.String(d.Symbol);
        }
        return new TensorParameter(m.String(p.Name), (DType)p.DType, dims, symbols);
    }

    /// <summary>Runs the function and returns its outputs (owned by the caller).</summary>
    public BufferView[] Invoke(params BufferView[] inputs) => Invoke(inputs, Timeout.InfiniteTimeSpan, CancellationToken.None);

    /// <summary>Runs the function; the host program stops with an error when cancelled or past <paramref name="timeout"/>.</summary>
    public BufferView[] Invoke(BufferView[] inputs, TimeSpan timeout, CancellationToken cancellation)
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
            return CollectOutputs(results);
        }
        finally { _context.Return(inv); }
    }

    /// <summary>
    /// Runs the function without blocking the caller: the host program records its commands here,
    /// the device runs them, and the task completes when the device signals completion.
    /// </summary>
    public async Task<BufferView[]> InvokeAsync(BufferView[] inputs, CancellationToken cancellation = default)
    {
        CheckInputs(inputs);
        var inv = _context.Rent();
        inv.Cancellation = cancellation;
        try
        {
            var results = new object?[OutputCount];
            inv.Call(_function, [], inputs, [], results);
            await inv.FlushAsync(cancellation).ConfigureAwait(false);
            return CollectOutputs(results);
        }
        finally { _context.Return(inv); }
    }

    private BufferView[] CollectOutputs(object?[] results) =>
        results.Select((r, i) => r as BufferView ?? throw new KilnRuntimeException(StatusCode.Aborted, $"function '{Name}' returned no tensor for output {i}")).ToArray();

    private void CheckInputs(BufferView[] inputs)
    {
        if (inputs.Length != InputCount)
            throw new KilnRuntimeException(StatusCode.InvalidArgument, $"function '{Name}' takes {InputCount} inputs, {inputs.Length} given");
        if (Inputs.Count == 0) return;
        var symbols = new Dictionary<string, long>(StringComparer.Ordinal);
        for (int i = 0; i < inputs.Length; i++)
        {
            var p = Inputs[i];
            var t = inputs[i] ?? throw new KilnRuntimeException(StatusCode.InvalidArgument, $"input '{p.Name}' is null");
            if (t.DType != p.DType) throw new KilnRuntimeException(StatusCode.InvalidArgument, $"input '{p.Name}' must be {p.DType.Name()}, got {t.DType.Name()}");
            if (t.Rank != p.Dims.Length) throw new KilnRuntimeException(StatusCode.InvalidArgument, $"input '{p.Name}' must have shape {p} (rank {p.Dims.Length}), got {t}");
            for (int d = 0; d < t.Rank; d++)
            {
                long size = t.Shape[d];
                if (p.Dims[d] is long want && want != size)
                    throw new KilnRuntimeException(StatusCode.InvalidArgument, $"input '{p.Name}' must have shape {p}, got {t} (dimension {d})");
                if (p.Symbols[d] is { } sym)
                {
                    if (symbols.TryGetValue(sym, out long bound) && bound != size)
                        throw new KilnRuntimeException(StatusCode.InvalidArgument, $"input '{p.Name}' dimension {d} is {sym} = {size}, but {sym} = {bound} in an earlier input");
                    symbols[sym] = size;
                }
            }
        }
    }
}
