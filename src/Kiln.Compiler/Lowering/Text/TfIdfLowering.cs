using Kiln.Ir;
using Kiln.Runtime;
using Kiln.Runtime.Kernels.Text;

namespace Kiln.Compiler.Lowering.Text;

/// <summary>
/// TfIdfVectorizer over integer tokens: the pool (pool_int64s cut by ngram_counts, each n-gram
/// with its ngram_indexes entry) becomes one constant int64 table, grouped by length and sorted
/// (as <see cref="TfIdfKernel"/> searches it), and the weights a constant float32 table (ones
/// where the attribute is absent); one dispatch scores every row. A pool of strings is not
/// supported. Inference already checked the attributes; the kernel checks the table again before
/// it runs (a module's constants are not trusted).
/// </summary>
[Lowerings]
public static class TfIdfLowering
{
    public static void Register(LoweringRegistry r) => r.Add("TfIdfVectorizer", Lower);

    private sealed class GramComparer : IComparer<long[]>
    {
        public static readonly GramComparer Instance = new();
        public int Compare(long[]? a, long[]? b) => a.AsSpan().SequenceCompareTo(b);
    }

    private sealed class GramEquality : IEqualityComparer<long[]>
    {
        public static readonly GramEquality Instance = new();
        public bool Equals(long[]? a, long[]? b) => a.AsSpan().SequenceEqual(b);
        public int GetHashCode(long[] gram)
        {
            var h = new HashCode();
            foreach (long t in gram) h.Add(t);
            return h.ToHashCode();
        }
    }

    private static void Lower(LoweringContext ctx)
    {
        var op = ctx.Op;
        var x = ctx.Input(0);
        if (x.DType is not (DType.Int32 or DType.Int64)) throw ctx.Unsupported($"tokens of {x.DType.Name()} (int32 and int64 are supported)");
        if (x.Rank is not (1 or 2)) throw ctx.Unsupported($"an input of rank {x.Rank} (it must be [C] or [N, C])");
        if (op.GetStrings("pool_strings") is not null) throw ctx.Unsupported("a pool of strings");
        long[] pool = op.GetInts("pool_int64s") ?? throw ctx.Unsupported("a TfIdfVectorizer without pool_int64s");
        long[] counts = op.GetInts("ngram_counts") ?? [], indexes = op.GetInts("ngram_indexes") ?? [];
        int mode = op.GetString("mode") switch { "TF" => 0, "IDF" => 1, "TFIDF" => 2, var m => throw ctx.Unsupported($"mode '{m}'") };

        // ngram_counts[k] is where the (k+1)-grams start in the pool; a repeated n-gram keeps its last index.
        var byLength = new Dictionary<long[], long>[counts.Length];
        int ngram = 0;
        for (int k = 0; k < counts.Length; k++)
        {
            byLength[k] = new Dictionary<long[], long>(GramEquality.Instance);
            long start = counts[k], end = k + 1 < counts.Length ? counts[k + 1] : pool.Length;
            for (long p = start; p < end; p += k + 1, ngram++)
                byLength[k][pool[(int)p..(int)(p + k + 1)]] = indexes[ngram];
        }
        var table = new List<long>(byLength.Select(g => (long)g.Count));
        foreach (var group in byLength)
            foreach (var (gram, index) in group.OrderBy(e => e.Key, GramComparer.Instance))
            {
                table.AddRange(gram);
                table.Add(index);
            }

        long outputs = indexes.Length == 0 ? 0 : indexes.Max() + 1;
        float[] weights = op.GetFloats("weights")?[..(int)outputs] ?? Enumerable.Repeat(1f, (int)outputs).ToArray();
        var sizes = new TfIdfKernel.Sizes(op.GetInt("min_gram_length"), op.GetInt("max_gram_length"), op.GetInt("max_skip_count"), counts.Length, table.Count, outputs);
        var poolTable = ctx.NewConstant(TensorData.FromInt64s([table.Count], [.. table]));
        var weightTable = ctx.NewConstant(TensorData.FromFloats([outputs], weights));
        Dim rows = x.Rank == 1 ? 1 : x.Shape[0], width = x.Shape[^1];
        ctx.Dispatch(new KernelSpec(TfIdfKernel.KernelName, TfIdfKernel.Encode(x.DType, mode, sizes), 4, 2), [x, poolTable, weightTable], [ctx.NewOutput(0)], [rows, width]);
    }
}
