using System.Reflection;
using System.Text.RegularExpressions;

namespace Kiln.Conformance;

/// <summary>
/// Cases an engine does not run, each with the reason, in the IREE style: one list per engine,
/// kept in the repository (src/Kiln.Conformance/Skips/ENGINE.tsv, embedded at build). A line is
/// "PATTERN&lt;TAB&gt;REASON", where PATTERN is folder/case with * wildcards; '#' starts a comment.
/// </summary>
public sealed class SkipList
{
    private readonly List<(string Pattern, Regex Regex, string Reason)> _entries = [];

    public IReadOnlyList<(string Pattern, string Reason)> Entries => _entries.Select(e => (e.Pattern, e.Reason)).ToArray();

    public static SkipList Parse(string text, string source)
    {
        var list = new SkipList();
        int lineNo = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNo++;
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var parts = line.Split('\t', 2);
            if (parts.Length != 2 || parts[0].Trim().Length == 0 || parts[1].Trim().Length == 0)
                throw new FormatException($"{source}:{lineNo}: expected 'PATTERN<TAB>REASON'");
            string pattern = parts[0].Trim();
            var regex = new Regex("^" + Regex.Escape(pattern).Replace("\\*", ".*") + "$", RegexOptions.CultureInvariant);
            list._entries.Add((pattern, regex, parts[1].Trim()));
        }
        return list;
    }

    /// <summary>
    /// The embedded skip list of an engine configuration (e.g. "reference", "compiled-sync"):
    /// Skips/ENGINE.tsv plus any Skips/ENGINE.PART.tsv (one part per operator family). A
    /// configuration that extends another by a hyphenated suffix takes that one's lists too
    /// ("compiled-sync-il" = compiled-sync's lists + its own): a target passes the same suite as the
    /// configuration it extends, and lists only its own differences.
    /// </summary>
    public static SkipList ForEngine(string engine)
    {
        var list = new SkipList();
        var assembly = Assembly.GetExecutingAssembly();
        var resources = assembly.GetManifestResourceNames().Order(StringComparer.Ordinal).ToArray();
        for (int end = engine.IndexOf('-'); ; end = engine.IndexOf('-', end + 1))
        {
            string prefix = $"Kiln.Conformance.Skips.{(end < 0 ? engine : engine[..end])}.";
            foreach (var name in resources)
            {
                if (name != prefix + "tsv" && !(name.StartsWith(prefix, StringComparison.Ordinal) && name.EndsWith(".tsv", StringComparison.Ordinal)
                    && !name[prefix.Length..^4].Contains('.'))) continue;
                using var stream = assembly.GetManifestResourceStream(name)!;
                using var reader = new StreamReader(stream);
                list._entries.AddRange(Parse(reader.ReadToEnd(), name)._entries);
            }
            if (end < 0) return list;
        }
    }

    /// <summary>The reason a case is skipped, or null to run it.</summary>
    public string? ReasonFor(string caseId)
    {
        foreach (var e in _entries)
            if (e.Regex.IsMatch(caseId)) return e.Reason;
        return null;
    }
}
