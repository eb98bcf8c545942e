using System.Text;
using System.Text.RegularExpressions;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// RegexFullMatch(X): whether each string matches 'pattern' as a whole. ONNX specifies RE2
/// syntax; the pattern is translated to .NET and run with the non-backtracking engine, which,
/// like RE2, takes linear time (so a hostile pattern cannot hang a model).
/// </summary>
[OpFamily]
public static class RegexOps
{
    public static void Register(OpRegistry r) => r.Add(new RegexFullMatchDefinition());

    private sealed class RegexFullMatchDefinition : OpDefinition
    {
        public override string OpType => "RegexFullMatch";

        public override void InferTypes(InferenceContext ctx)
        {
            Strings.RequireStrings(ctx, 0);
            Compile(ctx.Op);
            ctx.SetOutput(0, ElementType.Bool, ctx.InputShape(0));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            if (x.ElementType != ElementType.String) throw ctx.Error($"the input must be a string tensor, got {x.Type}");
            var regex = Compile(ctx.Op);
            ctx.SetOutput(0, Elementwise.Map<string, bool>(x, ElementType.Bool, regex.IsMatch));
        }

        private static Regex Compile(Operation op)
        {
            string pattern = op.GetString("pattern");
            try
            {
                return new Regex($@"\A(?:{Re2Translation.ToDotNet(pattern)})\z", RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
            }
            catch (ArgumentException e)
            {
                throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: invalid pattern \"{pattern}\": {e.Message}");
            }
        }
    }
}

/// <summary>
/// Rewrites the RE2 constructs whose .NET meaning differs: \w \d \s and POSIX classes are ASCII in
/// RE2 (Unicode in .NET), $ is the end of the text (.NET also matches before a final newline),
/// and RE2 spells named groups (?P&lt;name&gt;...), one-letter Unicode classes \pL, and literal
/// runs \Q...\E. \b keeps .NET's Unicode notion of a word character. Flags RE2 has and .NET
/// lacks (multi-line, ungreedy) are rejected rather than misread.
/// </summary>
internal static class Re2Translation
{
    private const string Word = "0-9A-Za-z_", Digit = "0-9", Space = @"\t\n\f\r ";

    // Complements of the ASCII classes over UTF-16 code units, for use inside [...].
    private const string NotWord = @"\x00-/:-@\[-^`{-\uFFFF", NotDigit = @"\x00-/:-\uFFFF", NotSpace = @"\x00-\x08\x0B\x0E-\x1F!-\uFFFF";

    private static readonly Dictionary<string, string> Posix = new()
    {
        ["alnum"] = "0-9A-Za-z", ["alpha"] = "A-Za-z", ["ascii"] = @"\x00-\x7F", ["blank"] = @"\t ",
        ["cntrl"] = @"\x00-\x1F\x7F", ["digit"] = Digit, ["graph"] = "!-~", ["lower"] = "a-z",
        ["print"] = " -~", ["punct"] = @"!-/:-@\[-`{-~", ["space"] = @"\t\n\v\f\r ", ["upper"] = "A-Z",
        ["word"] = Word, ["xdigit"] = "0-9A-Fa-f",
    };

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
                    if (close > 0 && Posix.TryGetValue(pattern[(i + 2)..close], out var range))
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
