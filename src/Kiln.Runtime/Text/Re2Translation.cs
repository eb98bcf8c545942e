using System.Text;
using System.Text.RegularExpressions;

namespace Kiln.Runtime.Text;

/// <summary>
/// Rewrites the RE2 constructs whose .NET meaning differs: \w \d \s and POSIX classes are ASCII in
/// RE2 (Unicode in .NET), $ is the end of the text (.NET also matches before a final newline),
/// and RE2 spells named groups (?P&lt;name&gt;...), one-letter Unicode classes \pL, and literal
/// runs \Q...\E. \b keeps .NET's Unicode notion of a word character. Flags RE2 has and .NET
/// lacks (multi-line, ungreedy) are rejected rather than misread.
/// </summary>
public static class Re2Translation
{
    private const string Word = "0-9A-Za-z_", Digit = "0-9", Space = @"\t\n\f\r ";

    // Complements of the ASCII classes over UTF-16 code units, for use inside [...].
    private const string NotWord = @"\x00-/:-@\[-^`{-\uFFFF", NotDigit = @"\x00-/:-\uFFFF", NotSpace = @"\x00-\x08\x0B\x0E-\x1F!-\uFFFF";

    /// <summary>A POSIX class's members, for use inside [...]; null for an unknown name. (A switch, not a static table: the runtime keeps no static mutable objects.)</summary>
    private static string? Posix(string name) => name switch
    {
        "alnum" => "0-9A-Za-z", "alpha" => "A-Za-z", "ascii" => @"\x00-\x7F", "blank" => @"\t ",
        "cntrl" => @"\x00-\x1F\x7F", "digit" => Digit, "graph" => "!-~", "lower" => "a-z",
        "print" => " -~", "punct" => @"!-/:-@\[-`{-~", "space" => @"\t\n\v\f\r ", "upper" => "A-Z",
        "word" => Word, "xdigit" => "0-9A-Fa-f",
        _ => null,
    };

    /// <summary>
    /// A .NET regex that matches exactly the strings the RE2 <paramref name="pattern"/> matches as a
    /// whole (RegexFullMatch), on the non-backtracking engine, which like RE2 takes linear time, so a
    /// hostile pattern cannot hang a model. Throws <see cref="ArgumentException"/> for a bad pattern,
    /// including constructs RE2 lacks and the linear-time engine refuses (backreferences, lookaround).
    /// </summary>
    public static Regex FullMatch(string pattern)
    {
        try { return new Regex($@"\A(?:{ToDotNet(pattern)})\z", RegexOptions.NonBacktracking | RegexOptions.CultureInvariant); }
        catch (NotSupportedException e) { throw new ArgumentException(e.Message, nameof(pattern), e); }
    }

    public static string ToDotNet(string pattern)
    {
        var sb = new StringBuilder();
        bool inClass = false;
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length)
            {
                char e = pattern[++i];
                switch (e)
                {
                    case 'w': sb.Append(inClass ? Word : $"[{Word}]"); break;
                    case 'd': sb.Append(inClass ? Digit : $"[{Digit}]"); break;
                    case 's': sb.Append(inClass ? Space : $"[{Space}]"); break;
                    case 'W': sb.Append(inClass ? NotWord : $"[^{Word}]"); break;
                    case 'D': sb.Append(inClass ? NotDigit : $"[^{Digit}]"); break;
                    case 'S': sb.Append(inClass ? NotSpace : $"[^{Space}]"); break;
                    case 'p' or 'P' when i + 1 < pattern.Length && pattern[i + 1] != '{':
                        sb.Append('\\').Append(e).Append('{').Append(pattern[++i]).Append('}');
                        break;
                    case 'Q' when !inClass:
                        int end = pattern.IndexOf(@"\E", i + 1, StringComparison.Ordinal);
                        string literal = end < 0 ? pattern[(i + 1)..] : pattern[(i + 1)..end];
                        sb.Append(Regex.Escape(literal));
                        i = end < 0 ? pattern.Length : end + 1;
                        break;
                    default: sb.Append('\\').Append(e); break;
                }
                continue;
            }
            if (inClass)
            {
                if (c == '[' && i + 1 < pattern.Length && pattern[i + 1] == ':')
                {
                    int close = pattern.IndexOf(":]", i + 2, StringComparison.Ordinal);
                    if (close > 0 && Posix(pattern[(i + 2)..close]) is { } range)
                    {
                        sb.Append(range);
                        i = close + 1;
                        continue;
                    }
                }
                if (c == '[') sb.Append('\\'); // a literal '[' in RE2; .NET would read a subtraction
                else if (c == ']') inClass = false;
                sb.Append(c);
                continue;
            }
            switch (c)
            {
                case '[':
                    inClass = true;
                    sb.Append(c);
                    // A ']' right after '[' or '[^' is a literal member.
                    if (i + 1 < pattern.Length && pattern[i + 1] == '^') sb.Append(pattern[++i]);
                    if (i + 1 < pattern.Length && pattern[i + 1] == ']') { sb.Append(@"\]"); i++; }
                    break;
                case '$': sb.Append(@"\z"); break;
                case '(' when pattern.AsSpan(i).StartsWith("(?P<"):
                    sb.Append("(?<");
                    i += 3;
                    break;
                case '(' when i + 2 < pattern.Length && pattern[i + 1] == '?' && char.IsLetter(pattern[i + 2]):
                    int flagsEnd = pattern.IndexOfAny([':', ')'], i);
                    string flags = flagsEnd < 0 ? pattern[(i + 2)..] : pattern[(i + 2)..flagsEnd];
                    if (flags.Contains('m') || flags.Contains('U'))
                        throw new ArgumentException($"the RE2 flags '{flags}' (multi-line or ungreedy) are not supported");
                    sb.Append(c);
                    break;
                default: sb.Append(c); break;
            }
        }
        return sb.ToString();
    }
}
