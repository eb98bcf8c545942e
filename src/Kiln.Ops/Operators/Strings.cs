using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// String operators: StringNormalizer, StringSplit and StringConcat. Case changes use the
/// invariant culture (no locale data; the 'locale' attribute is accepted and not needed for it).
/// RegexFullMatch and TfIdfVectorizer have their own files.
/// </summary>
[OpFamily]
public static class Strings
{
    public static void Register(OpRegistry r)
    {
        r.Add(new StringNormalizerDefinition());
        r.Add(new StringSplitDefinition());
        r.Add(new StringConcatDefinition());
    }

    internal static void RequireStrings(InferenceContext ctx, int input) =>
        Infer.ElementTypeIn(ctx, input, t => t == ElementType.String, "a string tensor");

    /// <summary>
    /// StringNormalizer(X): X is [C] or [1, C]. Removes stopwords (compared ignoring case unless
    /// is_case_sensitive), then applies case_change_action (LOWER, UPPER or NONE). When every
    /// string is removed the result holds one empty string.
    /// </summary>
    private sealed class StringNormalizerDefinition : OpDefinition
    {
        public override string OpType => "StringNormalizer";

        public override void InferTypes(InferenceContext ctx)
        {
            RequireStrings(ctx, 0);
            var shape = ctx.InputShape(0);
            CaseChange(ctx.Op);
            if (!shape.IsRanked) { ctx.SetOutput(0, ElementType.String, Shape.Unranked); return; }
            if (shape.Rank is not (1 or 2) || (shape.Rank == 2 && shape[0].TryGetValue(out long rows) && rows != 1))
                throw ctx.Error($"the input must be [C] or [1, C], has shape {shape}");
            // Removing stopwords makes the length data-dependent.
            var length = ctx.Op.GetStrings("stopwords") is { Length: > 0 } ? Dim.Unknown() : shape[shape.Rank - 1];
            ctx.SetOutput(0, ElementType.String, shape.Rank == 1 ? Shape.Of(length) : Shape.Of(1, length));
        }

        private static Func<string, string> CaseChange(Operation op) => op.GetString("case_change_action", "NONE") switch
        {
            "NONE" => s => s,
            "LOWER" => s => s.ToLowerInvariant(),
            "UPPER" => s => s.ToUpperInvariant(),
            var other => throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: unknown case_change_action '{other}'"),
        };

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            if (x.ElementType != ElementType.String || x.Rank is not (1 or 2) || (x.Rank == 2 && x.Shape[0] != 1))
                throw ctx.Error($"the input must be a string tensor [C] or [1, C], got {x.Type}");
            var comparer = ctx.Op.GetInt("is_case_sensitive", 0) != 0 ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase;
            var stopwords = new HashSet<string>(ctx.Op.GetStrings("stopwords") ?? [], comparer);
            var change = CaseChange(ctx.Op);
            var kept = x.Data<string>().Where(s => !stopwords.Contains(s)).Select(change).ToArray();
            if (kept.Length == 0) kept = [""];
            long[] shape = x.Rank == 1 ? [kept.Length] : [1, kept.Length];
            ctx.SetOutput(0, TensorData.Create(ElementType.String, shape, kept));
        }
    }

    /// <summary>
    /// StringSplit(X) -> (Y, Z): splits every string the way Python's str.split does: on the
    /// delimiter (consecutive delimiters give empty strings), or without one on runs of whitespace
    /// (ignoring leading and trailing whitespace), at most maxsplit times. Y has X's shape plus
    /// one axis as long as the most pieces, padded with empty strings; Z counts the pieces.
    /// </summary>
    private sealed class StringSplitDefinition : OpDefinition
    {
        public override string OpType => "StringSplit";
        public override int MaxOutputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            RequireStrings(ctx, 0);
            var shape = ctx.InputShape(0);
            ctx.SetOutput(0, ElementType.String, shape.IsRanked ? new Shape([.. shape.Dims, Dim.Unknown()]) : Shape.Unranked);
            ctx.SetOutput(1, ElementType.Int64, shape);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            if (x.ElementType != ElementType.String) throw ctx.Error($"the input must be a string tensor, got {x.Type}");
            string delimiter = ctx.Op.GetString("delimiter", "");
            long maxSplit = ctx.Op.GetInt("maxsplit", long.MaxValue);
            if (maxSplit < 0) maxSplit = long.MaxValue; // Python's -1: no limit
            var pieces = x.Data<string>().Select(s => delimiter.Length > 0 ? SplitOn(s, delimiter, maxSplit) : SplitOnWhitespace(s, maxSplit)).ToArray();
            long width = pieces.Length == 0 ? 0 : pieces.Max(p => p.Count);

            var y = TensorData.Zeros(ElementType.String, [.. x.Shape, width]);
            var z = TensorData.Zeros(ElementType.Int64, x.Shape);
            var ys = y.Data<string>();
            var zs = z.Data<long>();
            for (int i = 0; i < pieces.Length; i++)
            {
                pieces[i].CopyTo(ys, i * (int)width);
                zs[i] = pieces[i].Count;
            }
            ctx.SetOutput(0, y);
            ctx.SetOutput(1, z);
        }

        private static List<string> SplitOn(string s, string delimiter, long maxSplit)
        {
            var result = new List<string>();
            int start = 0;
            for (int at; result.Count < maxSplit && (at = s.IndexOf(delimiter, start, StringComparison.Ordinal)) >= 0; start = at + delimiter.Length)
                result.Add(s[start..at]);
            result.Add(s[start..]);
            return result;
        }

        private static List<string> SplitOnWhitespace(string s, long maxSplit)
        {
            var result = new List<string>();
            int i = 0;
            while (true)
            {
                while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
                if (i == s.Length) return result;
                if (result.Count == maxSplit)
                {
                    // The rest, as one piece, keeps its inner and trailing whitespace.
                    result.Add(s[i..]);
                    return result;
                }
                int start = i;
                while (i < s.Length && !char.IsWhiteSpace(s[i])) i++;
                result.Add(s[start..i]);
            }
        }
    }

    /// <summary>StringConcat(X, Y): elementwise X + Y with broadcasting.</summary>
    private sealed class StringConcatDefinition : OpDefinition
    {
        public override string OpType => "StringConcat";
        public override int MinInputs => 2;

        public override void InferTypes(InferenceContext ctx)
        {
            RequireStrings(ctx, 0);
            RequireStrings(ctx, 1);
            Infer.Broadcast(ctx, ElementType.String, 0, 1);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var (a, b) = (ctx.Tensor(0), ctx.Tensor(1));
            if (a.ElementType != ElementType.String || b.ElementType != ElementType.String) throw ctx.Error("both operands must be string tensors");
            Broadcasting.Shape(ctx, a.Shape, b.Shape); // a mismatch is reported naming this node
            ctx.SetOutput(0, Elementwise.Map<string, string, string>(a, b, ElementType.String, string.Concat));
        }
    }
}
