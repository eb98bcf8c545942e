using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// A parsed Einsum equation such as "bij,bjk->bik" or "...ii->...i", resolved against the
/// operands' ranks. Every axis of every operand gets a label id; the dimensions an ellipsis
/// stands for get ids 0..E-1 (aligned at the right across operands, as in broadcasting) and
/// letters the ids after them. Without "->" the output is the ellipsis dimensions followed by the
/// letters used exactly once, in alphabetical (ASCII) order, as numpy does.
/// </summary>
public sealed class EinsumEquation
{
    private EinsumEquation(int[][] operandLabels, int[] outputLabels, int labelCount)
    {
        OperandLabels = operandLabels;
        OutputLabels = outputLabels;
        LabelCount = labelCount;
    }

    /// <summary>For each operand, the label of each of its axes (a label repeats for a diagonal).</summary>
    public int[][] OperandLabels { get; }
    public int[] OutputLabels { get; }
    public int LabelCount { get; }

    /// <summary>The labels summed over: those used by an operand but absent from the output.</summary>
    public int[] SummedLabels => Enumerable.Range(0, LabelCount)
        .Where(l => !OutputLabels.Contains(l) && OperandLabels.Any(ls => ls.Contains(l))).ToArray();

    private const string Ellipsis = "...";
    private const int LetterCount = 52;

    public static EinsumEquation Parse(string equation, IReadOnlyList<int> ranks, Func<string, KilnException> error)
    {
        string text = equation.Replace(" ", "");
        int arrow = text.IndexOf("->", StringComparison.Ordinal);
        var terms = (arrow < 0 ? text : text[..arrow]).Split(',');
        if (terms.Length != ranks.Count)
            throw error($"equation '{equation}' has {terms.Length} operand terms, the node has {ranks.Count} inputs");

        // How many dimensions each operand's ellipsis stands for, and the widest.
        var ellipsisRanks = new int[terms.Length];
        for (int i = 0; i < terms.Length; i++)
        {
            int letters = Letters(terms[i], equation, error).Length;
            bool hasEllipsis = terms[i].Contains(Ellipsis, StringComparison.Ordinal);
            ellipsisRanks[i] = ranks[i] - letters;
            if (ellipsisRanks[i] < 0 || (!hasEllipsis && ellipsisRanks[i] != 0))
                throw error($"term '{terms[i]}' of equation '{equation}' does not match operand {i} of rank {ranks[i]}");
        }
        int ellipsisRank = ellipsisRanks.DefaultIfEmpty(0).Max();
        int LetterLabel(char c) => ellipsisRank + (char.IsUpper(c) ? c - 'A' : 26 + c - 'a');

        int[] Labels(string term, int termEllipsisRank)
        {
            var labels = new List<int>();
            int dots = term.IndexOf(Ellipsis, StringComparison.Ordinal);
            foreach (char c in dots < 0 ? term : term[..dots]) labels.Add(LetterLabel(c));
            if (dots < 0) return labels.ToArray();
            for (int d = ellipsisRank - termEllipsisRank; d < ellipsisRank; d++) labels.Add(d);
            foreach (char c in term[(dots + Ellipsis.Length)..]) labels.Add(LetterLabel(c));
            return labels.ToArray();
        }

        var operandLabels = terms.Select((t, i) => Labels(t, ellipsisRanks[i])).ToArray();
        int[] output;
        if (arrow >= 0)
        {
            string term = text[(arrow + 2)..];
            Letters(term, equation, error);
            output = Labels(term, term.Contains(Ellipsis, StringComparison.Ordinal) ? ellipsisRank : 0);
            if (output.Distinct().Count() != output.Length) throw error($"the output of equation '{equation}' repeats a label");
            foreach (int l in output)
                if (l >= ellipsisRank && !operandLabels.Any(ls => ls.Contains(l)))
                    throw error($"the output of equation '{equation}' uses a label no operand has");
        }
        else
        {
            var once = operandLabels.SelectMany(ls => ls).Where(l => l >= ellipsisRank)
                .GroupBy(l => l).Where(g => g.Count() == 1).Select(g => g.Key)
                .OrderBy(l => LabelChar(l - ellipsisRank));
            output = Enumerable.Range(0, ellipsisRank).Concat(once).ToArray();
        }
        return new EinsumEquation(operandLabels, output, ellipsisRank + LetterCount);
    }

    /// <summary>The letters of a term (without its ellipsis); throws on any other character or a second ellipsis.</summary>
    private static string Letters(string term, string equation, Func<string, KilnException> error)
    {
        int dots = term.IndexOf(Ellipsis, StringComparison.Ordinal);
        string letters = dots < 0 ? term : term.Remove(dots, Ellipsis.Length);
        if (letters.Any(c => !char.IsAsciiLetter(c)))
            throw error($"equation '{equation}' has an invalid term '{term}' (letters and one '...' only)");
        return letters;
    }

    /// <summary>Sort key of a letter label in ASCII order (upper case first).</summary>
    private static char LabelChar(int letter) => letter < 26 ? (char)('A' + letter) : (char)('a' + letter - 26);

    /// <summary>
    /// The size of every label, from the operands' dimensions; size-1 dimensions broadcast.
    /// Works on symbolic dimensions too (unknown where operands disagree symbolically).
    /// </summary>
    public Dim?[] LabelSizes(IReadOnlyList<IReadOnlyList<Dim>> shapes, Func<string, KilnException> error)
    {
        var sizes = new Dim?[LabelCount];
        for (int i = 0; i < shapes.Count; i++)
            for (int a = 0; a < shapes[i].Count; a++)
            {
                int l = OperandLabels[i][a];
                var d = shapes[i][a];
                if (sizes[l] is not { } known || known == 1) { sizes[l] = d; continue; }
                if (d == 1 || d == known) continue;
                if (known.IsKnown && d.IsKnown)
                    throw error($"label sizes disagree: {known} and {d} (operand {i}, axis {a})");
                if (!known.IsKnown) sizes[l] = d.IsKnown ? d : Dim.Unknown();
            }
        return sizes;
    }
}
