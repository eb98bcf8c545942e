using System.Globalization;
using System.Text;

namespace Kiln.Ir;

/// <summary>Lexical rules shared by the IR printer and parser: which names print bare, string escapes, number forms.</summary>
public static class TextSyntax
{
    /// <summary>Characters a value name may use without quotes (after %).</summary>
    public static bool IsValueNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '$';

    public static bool IsIdentStart(char c) => char.IsAsciiLetter(c) || c == '_';
    public static bool IsIdentChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';

    /// <summary>A value name as printed after '%': bare when it is made of name characters, else quoted.</summary>
    public static string FormatValueName(string name) =>
        name.Length > 0 && name.All(IsValueNameChar) ? name : Quote(name);

    /// <summary>A symbol or identifier: bare when it is a C-like identifier (and not a keyword), else quoted.</summary>
    public static string FormatIdentifier(string name) =>
        name.Length > 0 && IsIdentStart(name[0]) && name.All(IsIdentChar) && name is not ("ceildiv" or "mod" or "max" or "min" or "eq" or "lt") ? name : Quote(name);

    public static string Quote(string s)
    {
        var sb = new StringBuilder(s.Length + 2).Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20 || c == 0x7F || char.IsSurrogate(c)) sb.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }

    /// <summary>A float that reads back to the same bits (NaN payloads aside): shortest round-trip form, always with '.', 'e', or a word.</summary>
    public static string FormatFloat(double v, bool isSingle)
    {
        if (double.IsNaN(v)) return "nan";
        if (double.IsPositiveInfinity(v)) return "inf";
        if (double.IsNegativeInfinity(v)) return "-inf";
        string s = isSingle ? ((float)v).ToString("R", CultureInfo.InvariantCulture) : v.ToString("R", CultureInfo.InvariantCulture);
        if (s.IndexOfAny(['.', 'E', 'e']) < 0) s += ".0";
        return s;
    }
}
