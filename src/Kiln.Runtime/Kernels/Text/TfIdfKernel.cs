using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Text;

/// <summary>
/// The portable "tfidf" kernel: TfIdfVectorizer over integer tokens, x [rows, width] to y [rows,
/// outputs] (float32). In each row, an n-gram is n tokens at a fixed stride of 1 + skip, for
/// skip in [0, max skip] and n in [min, max] (a single token is counted once, at skip 0); each
/// n-gram found in the pool adds one at its output index. The counts are then weighted: TF keeps
/// the count, IDF gives the index's weight where the count is nonzero, TFIDF multiplies the two.
/// Descriptor (little-endian):
/// <code>
/// u8 version(1) · u8 token dtype (int32, int64) · u8 mode (0 TF, 1 IDF, 2 TFIDF)
/// · i64 min length · i64 max length · i64 max skip · i64 pool lengths · i64 table length · i64 outputs
/// </code>
/// Bindings: x; the pool table (int64): for each length n in 1..pool lengths the number of n-grams
/// of that length, then for each length its n-grams as records of n tokens and the output index,
/// sorted in strictly increasing token order (so a lookup is a binary search); the weights
/// (float32, one per output); y. Push constants: rows, width. The table is checked in full before
/// a dispatch runs. One workgroup per block of rows. Immutable after load; thread-safe.
/// </summary>
public sealed unsafe class TfIdfKernel : Kernel
{
    public const string KernelName = "tfidf";
    public const byte Version = 1;
    private const long RowsPerWorkgroup = 16;
    private const long MaxTableLength = int.MaxValue / 16;

    /// <summary>The pool's and output's sizes, from the descriptor.</summary>
    public readonly record struct Sizes(long MinLength, long MaxLength, long MaxSkip, long PoolLengths, long TableLength, long Outputs);

    private readonly DType _tokenType;
    private readonly int _mode;
    private readonly Sizes _sizes;

    private TfIdfKernel(DType tokenType, int mode, Sizes sizes) => (_tokenType, _mode, _sizes) = (tokenType, mode, sizes);

    public static byte[] Encode(DType tokenType, int mode, Sizes s) =>
        new DescriptorWriter().U8(Version).U8((byte)tokenType).U8(mode)
            .I64(s.MinLength).I64(s.MaxLength).I64(s.MaxSkip).I64(s.PoolLengths).I64(s.TableLength).I64(s.Outputs).ToArray();

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        var tokenType = r.ReadDType(DTypeKind.Index, "token");
        int mode = r.U8();
        if (mode > 2) throw r.Invalid($"unknown mode {mode}");
        var s = new Sizes(r.I64(), r.I64(), r.I64(), r.I64(), r.I64(), r.I64());
        r.ExpectEnd();
        if (s.MinLength < 1 || s.MaxLength < s.MinLength || s.MaxLength > MaxTableLength) throw r.Invalid($"gram lengths [{s.MinLength}, {s.MaxLength}] are invalid");
        if (s.MaxSkip < 0 || s.MaxSkip > MaxTableLength) throw r.Invalid($"max skip {s.MaxSkip} is out of range");
        if (s.PoolLengths < 0 || s.TableLength < s.PoolLengths || s.TableLength > MaxTableLength) throw r.Invalid($"a pool table of {s.TableLength} for {s.PoolLengths} lengths is out of range");
        if (s.Outputs < 0 || s.Outputs > MaxTableLength) throw r.Invalid($"{s.Outputs} outputs are out of range");
        DescriptorFields.CheckCounts(KernelName, bindingCount, 4, constantCount, 2);
        return new TfIdfKernel(tokenType, mode, s);
    }

    public override string Name => KernelName;

    public override void Validate(in DispatchState d)
    {
        long rows = d.Constant(0), width = d.Constant(1);
        DispatchChecks.Fits(d, 0, DispatchChecks.Product([rows, width], KernelName, "x"), _tokenType.Size(), KernelName, "x");
        if (d.Binding(1).Length != _sizes.TableLength * sizeof(long)) throw DispatchChecks.OutOfRange(KernelName, "the pool table does not have the descriptor's size");
        if (d.Binding(2).Length != _sizes.Outputs * sizeof(float)) throw DispatchChecks.OutOfRange(KernelName, "the weights do not have one entry per output");
        DispatchChecks.Fits(d, 3, DispatchChecks.Product([rows, _sizes.Outputs], KernelName, "y"), sizeof(float), KernelName, "y");
        CheckPool((long*)d.Binding(1).Data);
    }

    /// <summary>The counts cover the table exactly, every record's index names an output, and each length's records are strictly increasing.</summary>
    private void CheckPool(long* table)
    {
        long used = _sizes.PoolLengths;
        for (long n = 1; n <= _sizes.PoolLengths; n++)
        {
            long count = table[n - 1];
            if (count < 0 || count > (_sizes.TableLength - used) / (n + 1))
                throw DispatchChecks.OutOfRange(KernelName, $"{count} n-grams of length {n} do not fit the pool table");
            long* records = table + used;
            for (long k = 0; k < count; k++)
            {
                long* record = records + k * (n + 1);
                if (record[n] < 0 || record[n] >= _sizes.Outputs) throw DispatchChecks.OutOfRange(KernelName, $"an n-gram maps to output {record[n]}, there are {_sizes.Outputs}");
                if (k > 0 && Compare(record - (n + 1), record, n) >= 0) throw DispatchChecks.OutOfRange(KernelName, $"the n-grams of length {n} are not in strictly increasing order");
            }
            used += count * (n + 1);
        }
        if (used != _sizes.TableLength) throw DispatchChecks.OutOfRange(KernelName, "the pool table's counts do not cover it");
    }

    private static int Compare(long* a, long* b, long n)
    {
        for (long i = 0; i < n; i++)
            if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
        return 0;
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) =>
        ((int)Math.Min(int.MaxValue, (d.Constant(0) + RowsPerWorkgroup - 1) / RowsPerWorkgroup), 1, 1);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        long rows = d.Constant(0), width = d.Constant(1), outputs = _sizes.Outputs;
        long* table = (long*)d.Binding(1).Data;
        float* weights = (float*)d.Binding(2).Data, y = (float*)d.Binding(3).Data;
        byte* x = d.Binding(0).Data;
        int tokenSize = _tokenType.Size();
        long longest = Math.Min(_sizes.MaxLength, _sizes.PoolLengths);

        // Where each length's records start.
        var starts = new long[longest + 1];
        for (long n = 1, at = _sizes.PoolLengths; n <= longest; n++)
        {
            starts[n] = at;
            at += table[n - 1] * (n + 1);
        }

        var row = new long[width];
        var gram = new long[Math.Max(longest, 0)];
        for (long r = wg.X * RowsPerWorkgroup, last = Math.Min(rows, r + RowsPerWorkgroup); r < last; r++)
        {
            byte* tokens = x + r * width * tokenSize;
            for (long i = 0; i < width; i++)
                row[i] = tokenSize == 4 ? ((int*)tokens)[i] : ((long*)tokens)[i];
            float* output = y + r * outputs;
            new Span<float>(output, (int)outputs).Clear();
            for (long start = 0; start < width; start++)
                for (long skip = 0; skip <= _sizes.MaxSkip; skip++)
                    for (long n = Math.Max(_sizes.MinLength, skip > 0 ? 2 : 1); n <= longest; n++)
                    {
                        if (start + (n - 1) * (skip + 1) >= width) break;
                        for (long j = 0; j < n; j++) gram[j] = row[start + j * (skip + 1)];
                        long slot = Find(table + starts[n], table[n - 1], n, gram);
                        if (slot >= 0) output[slot]++;
                    }
            for (long i = 0; i < outputs; i++)
                output[i] = _mode switch
                {
                    0 => output[i],
                    1 => output[i] > 0 ? weights[i] : 0,
                    _ => output[i] * weights[i],
                };
        }
    }

    /// <summary>The output index of the n-gram among count sorted records of length n, or -1.</summary>
    private static long Find(long* records, long count, long n, long[] gram)
    {
        long lo = 0, hi = count - 1;
        fixed (long* g = gram)
            while (lo <= hi)
            {
                long mid = lo + (hi - lo) / 2;
                long* record = records + mid * (n + 1);
                int c = Compare(record, g, n);
                if (c == 0) return record[n];
                if (c < 0) lo = mid + 1;
                else hi = mid - 1;
            }
        return -1;
    }
}
