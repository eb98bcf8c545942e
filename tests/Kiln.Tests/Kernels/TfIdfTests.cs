using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Kernels.Text;

namespace Kiln.Tests.Kernels;

/// <summary>
/// The "tfidf" kernel against the reference: uni-, bi- and trigrams (one repeated, keeping its last
/// index), every mode, with and without weights, skips, 1-D and batched int32/int64 tokens, sync
/// and task devices; hostile descriptors and pool tables are refused with typed errors.
/// </summary>
public class TfIdfTests
{
    private static Model Vectorizer(ElementType type, long[] shape, string mode, long min, long max, long skip, bool weights)
    {
        var attributes = new Dictionary<string, AttributeValue>
        {
            ["mode"] = AttributeValue.String(mode),
            ["min_gram_length"] = AttributeValue.Int(min),
            ["max_gram_length"] = AttributeValue.Int(max),
            ["max_skip_count"] = AttributeValue.Int(skip),
            // Unigrams 3 1 4 7; bigrams (1 5) (9 2) (6 5) (1 5) again; trigrams (3 5 8) (2 2 2).
            ["pool_int64s"] = AttributeValue.Ints(3, 1, 4, 7, 1, 5, 9, 2, 6, 5, 1, 5, 3, 5, 8, 2, 2, 2),
            ["ngram_counts"] = AttributeValue.Ints(0, 4, 12),
            ["ngram_indexes"] = AttributeValue.Ints(0, 1, 2, 3, 4, 5, 6, 8, 7, 9),
        };
        if (weights) attributes["weights"] = AttributeValue.Floats(0.5f, 2, 1.25f, -1, 3, 0.75f, 4, 1.5f, -2, 0.25f);
        return KernelHarness.Single("TfIdfVectorizer", [(type, shape.Select(d => (Dim)d).ToArray())], attributes);
    }

    private static TensorData Tokens(ElementType type, long[] shape, int seed)
    {
        var random = new Random(seed);
        int count = (int)shape.Aggregate(1L, (a, b) => a * b);
        long[] values = Enumerable.Range(0, count).Select(_ => (long)random.Next(0, 10)).ToArray();
        return type == ElementType.Int32
            ? TensorData.Create(type, shape, values.Select(v => (int)v).ToArray())
            : TensorData.FromInt64s(shape, values);
    }

    [Theory]
    [InlineData(ElementType.Int64, new long[] { 40 }, "TF", 1, 3, 0, false)]
    [InlineData(ElementType.Int32, new long[] { 40 }, "TF", 2, 2, 3, false)]
    [InlineData(ElementType.Int64, new long[] { 37, 12 }, "IDF", 1, 2, 2, true)]
    [InlineData(ElementType.Int32, new long[] { 37, 12 }, "TFIDF", 1, 3, 5, true)]
    [InlineData(ElementType.Int64, new long[] { 5, 9 }, "TFIDF", 2, 3, 1, false)]
    [InlineData(ElementType.Int32, new long[] { 3, 1 }, "IDF", 1, 1, 4, false)]
    public void Matches_the_reference(ElementType type, long[] shape, string mode, long min, long max, long skip, bool weights)
    {
        var x = Tokens(type, shape, seed: shape.Sum() > 100 ? 7 : 3);
        var expected = (TensorData)new ReferenceEvaluator().Run(Vectorizer(type, shape, mode, min, max, skip, weights).Graph, [x])[0];
        foreach (var device in new[] { "sync", "task" })
        {
            using var loaded = new KernelHarness.Loaded(Vectorizer(type, shape, mode, min, max, skip, weights), "portable", device);
            var diff = Kiln.Conformance.Comparison.CompareTensors("y", expected, loaded.Run([x])[0], 0, 0);
            Assert.True(diff is null, diff);
        }
    }

    private static readonly TfIdfKernel.Sizes Good = new(1, 2, 0, 2, 2 + 2 * 2 + 1 * 3, 3);

    [Fact]
    public void Hostile_descriptors_are_refused()
    {
        Assert.NotNull(TfIdfKernel.Load(TfIdfKernel.Encode(DType.Int64, 0, Good), 4, 2));
        Assert.Throws<KilnRuntimeException>(() => TfIdfKernel.Load(TfIdfKernel.Encode(DType.Float32, 0, Good), 4, 2));
        Assert.Throws<KilnRuntimeException>(() => TfIdfKernel.Load(TfIdfKernel.Encode(DType.Int64, 3, Good), 4, 2));
        Assert.Throws<KilnRuntimeException>(() => TfIdfKernel.Load(TfIdfKernel.Encode(DType.Int64, 0, Good with { MinLength = 0 }), 4, 2));
        Assert.Throws<KilnRuntimeException>(() => TfIdfKernel.Load(TfIdfKernel.Encode(DType.Int64, 0, Good with { MaxLength = 0 }), 4, 2));
        Assert.Throws<KilnRuntimeException>(() => TfIdfKernel.Load(TfIdfKernel.Encode(DType.Int64, 0, Good with { MaxSkip = -1 }), 4, 2));
        Assert.Throws<KilnRuntimeException>(() => TfIdfKernel.Load(TfIdfKernel.Encode(DType.Int64, 0, Good with { TableLength = 1 }), 4, 2));
        Assert.Throws<KilnRuntimeException>(() => TfIdfKernel.Load(TfIdfKernel.Encode(DType.Int64, 0, Good with { Outputs = -1 }), 4, 2));
        Assert.Throws<KilnRuntimeException>(() => TfIdfKernel.Load(TfIdfKernel.Encode(DType.Int64, 0, Good), 3, 2));
    }

    /// <summary>Validates a dispatch of the kernel over x = [1, 2, 3] and the given pool table.</summary>
    private static unsafe void Validate(long[] table, int weightCount = 3)
    {
        var kernel = TfIdfKernel.Load(TfIdfKernel.Encode(DType.Int64, 2, Good), 4, 2);
        long[] x = [1, 2, 3];
        var weights = new float[weightCount];
        var y = new float[3];
        long[] constants = [1, 3];
        fixed (long* px = x, pt = table, pc = constants)
        fixed (float* pw = weights, py = y)
        {
            var bindings = stackalloc Binding[]
            {
                new((byte*)px, x.Length * 8), new((byte*)pt, table.Length * 8), new((byte*)pw, weights.Length * 4), new((byte*)py, y.Length * 4),
            };
            kernel.Validate(new DispatchState(bindings, 4, pc, 2, 1, 1, 1));
        }
    }

    [Fact]
    public void Hostile_pool_tables_are_refused()
    {
        // Two unigrams (1 -> 0, 3 -> 2) and one bigram (1 2 -> 1).
        Validate([2, 1, 1, 0, 3, 2, 1, 2, 1]);
        Assert.Throws<KilnRuntimeException>(() => Validate([2, 1, 1, 0, 3, 2, 1, 2, 1], weightCount: 2));
        Assert.Throws<KilnRuntimeException>(() => Validate([2, 1, 1, 0, 3, 2, 1, 2, 1, 0]));
        Assert.Throws<KilnRuntimeException>(() => Validate([3, 1, 1, 0, 3, 2, 1, 2, 1]));   // counts overrun the table
        Assert.Throws<KilnRuntimeException>(() => Validate([-1, 1, 1, 0, 3, 2, 1, 2, 1]));  // negative count
        Assert.Throws<KilnRuntimeException>(() => Validate([1, 1, 1, 0, 3, 2, 1, 2, 1]));   // counts do not cover the table
        Assert.Throws<KilnRuntimeException>(() => Validate([2, 1, 3, 0, 1, 2, 1, 2, 1]));   // unigrams out of order
        Assert.Throws<KilnRuntimeException>(() => Validate([2, 1, 1, 0, 1, 2, 1, 2, 1]));   // a repeated unigram
        Assert.Throws<KilnRuntimeException>(() => Validate([2, 1, 1, 3, 3, 2, 1, 2, 1]));   // index past the outputs
        Assert.Throws<KilnRuntimeException>(() => Validate([2, 1, 1, 0, 3, 2, 1, 2, -1]));  // negative index
    }
}
