using System.Globalization;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// TfIdfVectorizer(X): counts the n-grams of the pool in each row of X ([C] or [N, C] of strings
/// or integers) and writes their TF, IDF or TF-IDF values at the output index each n-gram maps to.
/// An n-gram takes n items at a fixed stride of 1 + skip for skip in [0, max_skip_count]; an
/// item alone (n = 1) is counted once whatever the skip.
/// </summary>
[OpFamily]
public static class TfIdfOps
{
    public static void Register(OpRegistry r) => r.Add(new TfIdfVectorizerDefinition());

    /// <summary>The pool, read from the attributes: n-grams (tokens as text) and their output indices.</summary>
    private sealed class Pool
    {
        public required Dictionary<string[], int> Index { get; init; }
        public required int MinLength { get; init; }
        public required int MaxLength { get; init; }
        public required int MaxSkip { get; init; }
        public required int OutputSize { get; init; }
        public required string Mode { get; init; }
        public required float[]? Weights { get; init; }

        public static Pool Read(Operation op)
        {
            KilnException Bad(string m) => new(ErrorCode.InvalidModel, $"{op.Describe()}: {m}");
            int min = (int)op.GetInt("min_gram_length"), max = (int)op.GetInt("max_gram_length"), skip = (int)op.GetInt("max_skip_count");
            if (min < 1 || max < min || skip < 0) throw Bad($"gram lengths [{min}, {max}] and max_skip_count {skip} are invalid");
            string mode = op.GetString("mode");
            if (mode is not ("TF" or "IDF" or "TFIDF")) throw Bad($"unknown mode '{mode}'");
            var tokens = op.GetStrings("pool_strings")
                ?? op.GetInts("pool_int64s")?.Select(v => v.ToString(CultureInfo.InvariantCulture)).ToArray()
                ?? throw Bad("needs pool_strings or pool_int64s");
            var counts = op.GetInts("ngram_counts") ?? throw Bad("needs ngram_counts");
            var indexes = op.GetInts("ngram_indexes") ?? throw Bad("needs ngram_indexes");

            // ngram_counts[k] is where the (k+1)-grams start in the pool.
            var index = new Dictionary<string[], int>(TokenComparer.Instance);
            int ngram = 0;
            for (int k = 0; k < counts.Length; k++)
            {
                long start = counts[k], end = k + 1 < counts.Length ? counts[k + 1] : tokens.Length;
                if (start < 0 || end > tokens.Length || start > end || (end - start) % (k + 1) != 0)
                    throw Bad($"ngram_counts [{string.Join(", ", counts)}] do not fit a pool of {tokens.Length}");
                for (long p = start; p < end; p += k + 1, ngram++)
                {
                    if (ngram >= indexes.Length) throw Bad("ngram_indexes has fewer entries than the pool has n-grams");
                    if (indexes[ngram] is < 0 or >= int.MaxValue) throw Bad($"ngram_indexes entry {indexes[ngram]} is out of range");
                    index[tokens[(int)p..(int)(p + k + 1)]] = (int)indexes[ngram];
                }
            }
            var weights = op.GetFloats("weights");
            int outputSize = indexes.Length == 0 ? 0 : (int)indexes.Max() + 1;
            if (weights is not null && weights.Length < outputSize) throw Bad($"weights has {weights.Length} entries, the output has {outputSize}");
            return new Pool { Index = index, MinLength = min, MaxLength = max, MaxSkip = skip, OutputSize = outputSize, Mode = mode, Weights = weights };
        }

        /// <summary>Counts the pool's n-grams in one row of tokens, then applies the weighting.</summary>
        public void Score(string[] row, Span<float> output)
        {
            var gram = new string[MaxLength];
            for (int start = 0; start < row.Length; start++)
                for (int skip = 0; skip <= MaxSkip; skip++)
                    for (int n = Math.Max(MinLength, skip > 0 ? 2 : 1); n <= MaxLength; n++)
                    {
                        long last = start + (long)(n - 1) * (skip + 1);
                        if (last >= row.Length) break;
                        for (int j = 0; j < n; j++) gram[j] = row[start + j * (skip + 1)];
                        if (Index.TryGetValue(gram[..n], out int slot)) output[slot]++;
                    }
            for (int i = 0; i < output.Length; i++)
            {
                float weight = Weights?[i] ?? 1;
                output[i] = Mode switch
                {
                    "TF" => output[i],
                    "IDF" => output[i] > 0 ? weight : 0,
                    _ => output[i] * weight,
                };
            }
        }
    }

    private sealed class TokenComparer : IEqualityComparer<string[]>
    {
        public static readonly TokenComparer Instance = new();
        public bool Equals(string[]? a, string[]? b) => a.AsSpan().SequenceEqual(b);
        public int GetHashCode(string[] tokens)
        {
            var h = new HashCode();
            foreach (var t in tokens) h.Add(t, StringComparer.Ordinal);
            return h.ToHashCode();
        }
    }

    private sealed class TfIdfVectorizerDefinition : OpDefinition
    {
        public override string OpType => "TfIdfVectorizer";

        private static bool IsTokenType(ElementType t) => t is ElementType.String or ElementType.Int32 or ElementType.Int64;

        public override void InferTypes(InferenceContext ctx)
        {
            Infer.ElementTypeIn(ctx, 0, IsTokenType, "a string, int32 or int64 tensor");
            var pool = Pool.Read(ctx.Op);
            var shape = ctx.InputShape(0);
            if (!shape.IsRanked) { ctx.SetOutput(0, ElementType.Float32, Shape.Unranked); return; }
            ctx.SetOutput(0, ElementType.Float32, shape.Rank switch
            {
                1 => Shape.Of(pool.OutputSize),
                2 => Shape.Of(shape[0], pool.OutputSize),
                _ => throw ctx.Error($"the input must be [C] or [N, C], has shape {shape}"),
            });
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            if (!IsTokenType(x.ElementType) || x.Rank is not (1 or 2))
                throw ctx.Error($"the input must be a string or integer tensor [C] or [N, C], got {x.Type}");
            var pool = Pool.Read(ctx.Op);
            var tokens = x.Storage is string[] s ? s : x.ToInt64Array().Select(v => v.ToString(CultureInfo.InvariantCulture)).ToArray();
            long rows = x.Rank == 1 ? 1 : x.Shape[0], width = x.Shape[^1];
            var y = TensorData.Zeros(ElementType.Float32, x.Rank == 1 ? [pool.OutputSize] : [rows, pool.OutputSize]);
            var output = y.Data<float>();
            for (long r = 0; r < rows; r++)
                pool.Score(tokens[(int)(r * width)..(int)((r + 1) * width)], output.AsSpan((int)(r * pool.OutputSize), pool.OutputSize));
            ctx.SetOutput(0, y);
        }
    }
}
