using System.Globalization;
using System.Text;

namespace Kiln.Ir;

internal enum TokenKind { End, Ident, ValueRef, AtName, String, Number, Punct }

internal readonly record struct Token(TokenKind Kind, string Text, int Line, int Column)
{
    public override string ToString() => Kind switch
    {
        TokenKind.End => "end of input",
        TokenKind.String => TextSyntax.Quote(Text),
        TokenKind.ValueRef => "%" + Text,
        TokenKind.AtName => "@" + Text,
        _ => $"'{Text}'",
    };
}

/// <summary>Tokenizer of the IR text form. Errors carry line and column.</summary>
internal sealed class IrLexer
{
    private readonly string _text;
    private readonly int _end;
    private int _pos, _line = 1, _lineStart;

    public IrLexer(string text, int start, int end)
    {
        _text = text;
        _pos = start;
        _end = end;
    }

    public KilnException Error(Token at, string message) =>
        new(ErrorCode.ParseError, $"line {at.Line}, column {at.Column}: {message}");

    public Token Next()
    {
        SkipSpace();
        int line = _line, col = _pos - _lineStart + 1;
        if (_pos >= _end) return new Token(TokenKind.End, "", line, col);
        char c = _text[_pos];
        if (c == '"') return new Token(TokenKind.String, ReadString(line, col), line, col);
        if (c is '%' or '@')
        {
            _pos++;
            string name;
            if (_pos < _end && _text[_pos] == '"') name = ReadString(line, col);
            else
            {
                int s = _pos;
                while (_pos < _end && TextSyntax.IsValueNameChar(_text[_pos])) _pos++;
                if (_pos == s) throw new KilnException(ErrorCode.ParseError, $"line {line}, column {col}: expected a name after '{c}'");
                name = _text[s.._pos];
            }
            return new Token(c == '%' ? TokenKind.ValueRef : TokenKind.AtName, name, line, col);
        }
        if (char.IsAsciiDigit(c) || (c == '-' && _pos + 1 < _end && char.IsAsciiDigit(_text[_pos + 1])))
        {
            int s = _pos++;
            while (_pos < _end && (char.IsAsciiDigit(_text[_pos]) || _text[_pos] == '.' ||
                   _text[_pos] is 'E' or 'e' || (_text[_pos] is '-' or '+' && _text[_pos - 1] is 'E' or 'e'))) _pos++;
            return new Token(TokenKind.Number, _text[s.._pos], line, col);
        }
        // A lone '_' marks an absent operand or result.
        bool loneUnderscore = c == '_' && (_pos + 1 >= _end || !TextSyntax.IsIdentChar(_text[_pos + 1]));
        if (TextSyntax.IsIdentStart(c) && !loneUnderscore)
        {
            int s = _pos;
            while (_pos < _end && (TextSyntax.IsIdentChar(_text[_pos]) || _text[_pos] == '.')) _pos++;
            return new Token(TokenKind.Ident, _text[s.._pos], line, col);
        }
        _pos++;
        return new Token(TokenKind.Punct, c.ToString(), line, col);
    }

    private void SkipSpace()
    {
        while (_pos < _end)
        {
            char c = _text[_pos];
            if (c == '\n') { _pos++; _line++; _lineStart = _pos; }
            else if (char.IsWhiteSpace(c)) _pos++;
            else if (c == '/' && _pos + 1 < _end && _text[_pos + 1] == '/')
                while (_pos < _end && _text[_pos] != '\n') _pos++;
            else break;
        }
    }

    private string ReadString(int line, int col)
    {
        var sb = new StringBuilder();
        _pos++; // opening quote
        while (true)
        {
            if (_pos >= _end || _text[_pos] == '\n')
                throw new KilnException(ErrorCode.ParseError, $"line {line}, column {col}: unterminated string");
            char c = _text[_pos++];
            if (c == '"') return sb.ToString();
            if (c != '\\') { sb.Append(c); continue; }
            if (_pos >= _end) throw new KilnException(ErrorCode.ParseError, $"line {line}, column {col}: unterminated escape");
            char e = _text[_pos++];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 't': sb.Append('\t'); break;
                case '"': sb.Append('"'); break;
                case '\\': sb.Append('\\'); break;
                case 'u':
                    if (_pos + 4 > _end || !ushort.TryParse(_text.AsSpan(_pos, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ushort u))
                        throw new KilnException(ErrorCode.ParseError, $"line {line}, column {col}: bad \\u escape");
                    sb.Append((char)u);
                    _pos += 4;
                    break;
                default: throw new KilnException(ErrorCode.ParseError, $"line {line}, column {col}: unknown escape '\\{e}'");
            }
        }
    }
}
