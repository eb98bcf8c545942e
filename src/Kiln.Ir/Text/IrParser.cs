using System.Globalization;

namespace Kiln.Ir;

/// <summary>
/// Reads the IR text form written by <see cref="IrPrinter"/> (see there for the grammar by
/// example). Value references resolve from the innermost graph outward. Every error is a
/// <see cref="KilnException"/> with code <see cref="ErrorCode.ParseError"/> and a line and column.
/// </summary>
public sealed class IrParser
{
    private const string ResourcesHeader = "\nresources {\n";

    private readonly IrLexer _lex;
    private readonly string _text;
    private readonly Dictionary<string, (int Start, int End)> _resources = new(StringComparer.Ordinal);
    private readonly List<Dictionary<string, Value>> _scopes = [];
    private Token _tok;

    private IrParser(string text)
    {
        _text = text;
        int bodyEnd = text.Length;
        int res = text.LastIndexOf(ResourcesHeader, StringComparison.Ordinal);
        if (res >= 0)
        {
            bodyEnd = res + 1;
            IndexResources(res + ResourcesHeader.Length);
        }
        _lex = new IrLexer(text, 0, bodyEnd);
        _tok = _lex.Next();
    }

    public static Model ParseModel(string text)
    {
        var p = new IrParser(text);
        var m = p.ParseModelBody();
        p.ExpectEnd();
        return m;
    }

    public static Graph ParseGraph(string text)
    {
        var p = new IrParser(text);
        var g = p.ParseGraphBody(null);
        p.ExpectEnd();
        return g;
    }

    // ---- resources: "  rN = hex"...."" lines, indexed lazily so tensors are decoded on use.
    private void IndexResources(int pos)
    {
        while (pos < _text.Length)
        {
            int lineEnd = _text.IndexOf('\n', pos);
            if (lineEnd < 0) lineEnd = _text.Length;
            var line = _text.AsSpan(pos, lineEnd - pos).Trim();
            if (line.SequenceEqual("}")) return;
            int eq = line.IndexOf(" = hex\"");
            if (eq <= 0 || line[^1] != '"') throw new KilnException(ErrorCode.ParseError, "malformed line in the resources section");
            string key = line[..eq].ToString();
            int start = pos + (_text.AsSpan(pos, lineEnd - pos).IndexOf('"') + 1);
            int end = lineEnd - (_text.AsSpan(pos, lineEnd - pos).Length - _text.AsSpan(pos, lineEnd - pos).TrimEnd().Length) - 1;
            _resources[key] = (start, end);
            pos = lineEnd + 1;
        }
        throw new KilnException(ErrorCode.ParseError, "resources section is not closed");
    }

    private byte[] ResourceBytes(Token at, string key)
    {
        if (!_resources.TryGetValue(key, out var span)) throw _lex.Error(at, $"unknown resource @{key}");
        return ParseHex(at, _text.AsSpan(span.Start, span.End - span.Start));
    }

    private byte[] ParseHex(Token at, ReadOnlySpan<char> hex)
    {
        if (hex.Length % 2 != 0) throw _lex.Error(at, "hex data has an odd number of digits");
        try { return Convert.FromHexString(hex); }
        catch (FormatException) { throw _lex.Error(at, "malformed hex data"); }
    }

    // ---- token helpers
    private Token Advance() { var t = _tok; _tok = _lex.Next(); return t; }
    private bool IsPunct(string p) => _tok.Kind == TokenKind.Punct && _tok.Text == p;
    private bool IsIdent(string word) => _tok.Kind == TokenKind.Ident && _tok.Text == word;
    private bool TryPunct(string p) { if (!IsPunct(p)) return false; Advance(); return true; }

    private void Expect(string p)
    {
        if (!TryPunct(p)) throw _lex.Error(_tok, $"expected '{p}', found {_tok}");
    }

    private void ExpectWord(string word)
    {
        if (!IsIdent(word)) throw _lex.Error(_tok, $"expected '{word}', found {_tok}");
        Advance();
    }

    private string ExpectIdent()
    {
        if (_tok.Kind != TokenKind.Ident) throw _lex.Error(_tok, $"expected an identifier, found {_tok}");
        return Advance().Text;
    }

    private string ExpectString()
    {
        if (_tok.Kind != TokenKind.String) throw _lex.Error(_tok, $"expected a string, found {_tok}");
        return Advance().Text;
    }

    private long ExpectInt()
    {
        var t = Advance();
        if (t.Kind != TokenKind.Number || !long.TryParse(t.Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v))
            throw _lex.Error(t, $"expected an integer, found {t}");
        return v;
    }

    private void ExpectEnd()
    {
        if (_tok.Kind != TokenKind.End) throw _lex.Error(_tok, $"unexpected {_tok} after the end");
    }

    // ---- model and graphs
    private Model ParseModelBody()
    {
        ExpectWord("model");
        long irVersion = 0;
        string producer = "", producerVersion = "";
        var opsets = new SortedDictionary<string, long>(StringComparer.Ordinal);
        while (!IsIdent("graph"))
        {
            var key = Advance();
            if (key.Kind != TokenKind.Ident) throw _lex.Error(key, $"expected a model field or 'graph', found {key}");
            Expect("=");
            switch (key.Text)
            {
                case "ir_version": irVersion = ExpectInt(); break;
                case "producer": producer = ExpectString(); break;
                case "producer_version": producerVersion = ExpectString(); break;
                case "opsets":
                    Expect("{");
                    while (!TryPunct("}"))
                    {
                        if (opsets.Count > 0) Expect(",");
                        string domain = ExpectString();
                        Expect(":");
                        opsets[domain] = ExpectInt();
                    }
                    break;
                default: throw _lex.Error(key, $"unknown model field '{key.Text}'");
            }
        }
        var graph = ParseGraphBody(null);
        var model = new Model(graph) { IrVersion = irVersion, ProducerName = producer, ProducerVersion = producerVersion };
        foreach (var (d, v) in opsets) model.OpsetImports[d] = v;
        return model;
    }

    private Graph ParseGraphBody(Graph? parent)
    {
        ExpectWord("graph");
        var nameTok = Advance();
        if (nameTok.Kind != TokenKind.AtName) throw _lex.Error(nameTok, $"expected a graph name (@name), found {nameTok}");
        var graph = parent is null ? new Graph(nameTok.Text) : parent.CreateNested(nameTok.Text);
        var scope = new Dictionary<string, Value>(StringComparer.Ordinal);
        _scopes.Add(scope);
        Expect("(");
        while (!TryPunct(")"))
        {
            if (graph.Inputs.Count > 0) Expect(",");
            var vt = Advance();
            if (vt.Kind != TokenKind.ValueRef) throw _lex.Error(vt, $"expected a graph input (%name), found {vt}");
            Expect(":");
            var type = ParseType();
            Define(scope, vt, graph.AddInput(vt.Text, type));
        }
        Expect("{");
        while (!IsIdent("return")) ParseOperation(graph, scope);
        Advance();
        if (!IsPunct("}"))
        {
            do graph.AddOutput(Lookup(Advance()));
            while (TryPunct(","));
        }
        Expect("}");
        _scopes.RemoveAt(_scopes.Count - 1);
        return graph;
    }

    private void Define(Dictionary<string, Value> scope, Token at, Value v)
    {
        if (v.Name != at.Text || !scope.TryAdd(at.Text, v))
            throw _lex.Error(at, $"value %{at.Text} is defined twice");
    }

    private Value Lookup(Token t)
    {
        if (t.Kind != TokenKind.ValueRef) throw _lex.Error(t, $"expected a value (%name), found {t}");
        for (int i = _scopes.Count - 1; i >= 0; i--)
            if (_scopes[i].TryGetValue(t.Text, out var v)) return v;
        throw _lex.Error(t, $"value %{t.Text} is not defined");
    }

    private void ParseOperation(Graph graph, Dictionary<string, Value> scope)
    {
        // results
        var results = new List<Token?>();
        if (_tok.Kind == TokenKind.ValueRef || IsPunct("_"))
        {
            do
            {
                if (TryPunct("_")) results.Add(null);
                else
                {
                    var t = Advance();
                    if (t.Kind != TokenKind.ValueRef) throw _lex.Error(t, $"expected a result (%name or _), found {t}");
                    results.Add(t);
                }
            } while (TryPunct(","));
            Expect("=");
        }
        var opTok = Advance();
        if (opTok.Kind != TokenKind.Ident) throw _lex.Error(opTok, $"expected an operator name, found {opTok}");
        int dot = opTok.Text.LastIndexOf('.');
        string domain = dot < 0 ? "" : opTok.Text[..dot], opType = dot < 0 ? opTok.Text : opTok.Text[(dot + 1)..];

        var operands = new List<Value?>();
        Expect("(");
        while (!TryPunct(")"))
        {
            if (operands.Count > 0) Expect(",");
            if (TryPunct("_")) operands.Add(null);
            else operands.Add(Lookup(Advance()));
        }

        var attrs = new Dictionary<string, AttributeValue>(StringComparer.Ordinal);
        if (TryPunct("{"))
        {
            while (!TryPunct("}"))
            {
                if (attrs.Count > 0) Expect(",");
                var nameTok = Advance();
                if (nameTok.Kind is not (TokenKind.Ident or TokenKind.String)) throw _lex.Error(nameTok, $"expected an attribute name, found {nameTok}");
                Expect("=");
                if (!attrs.TryAdd(nameTok.Text, ParseAttribute(graph)))
                    throw _lex.Error(nameTok, $"attribute '{nameTok.Text}' is given twice");
            }
        }

        var types = new List<IrType>();
        int present = results.Count(r => r is not null);
        if (present > 0)
        {
            Expect(":");
            for (int i = 0; i < present; i++)
            {
                if (i > 0) Expect(",");
                types.Add(ParseType());
            }
        }
        string nodeName = "";
        if (_tok.Kind == TokenKind.AtName) nodeName = Advance().Text;

        var allTypes = new IrType[results.Count];
        for (int i = 0, k = 0; i < results.Count; i++) allTypes[i] = results[i] is null ? types.Count > 0 ? types[0] : new TensorType(ElementType.Float32, Shape.Unranked) : types[k++];
        var op = graph.AddOperation(opType, operands, results.Select(r => r?.Text), attrs, domain, nodeName, allTypes);
        for (int i = 0; i < results.Count; i++)
            if (results[i] is { } rt) Define(scope, rt, op.Output(i));
    }

    // ---- attributes
    private AttributeValue ParseAttribute(Graph graph)
    {
        var t = _tok;
        switch (t.Kind)
        {
            case TokenKind.Number:
                Advance();
                if (t.Text.IndexOfAny(['.', 'E', 'e']) >= 0) return AttributeValue.Float((float)ParseFloatText(t));
                return AttributeValue.Int(ParseIntText(t));
            case TokenKind.String:
                return AttributeValue.String(Advance().Text);
            case TokenKind.Punct when t.Text == "-":
                return AttributeValue.Float((float)ParseFloatToken());
            case TokenKind.Ident:
                switch (t.Text)
                {
                    case "nan" or "inf": return AttributeValue.Float((float)ParseFloatToken());
                    case "dense": return AttributeValue.Tensor(ParseTensor());
                    case "graph": return AttributeValue.Graph(ParseGraphBody(graph));
                    case "type":
                        Advance(); Expect("<");
                        var ty = ParseType();
                        Expect(">");
                        return AttributeValue.Type(ty);
                    case "ints": Advance(); return AttributeValue.Ints(ParseList(() => ExpectInt()));
                    case "floats": Advance(); return AttributeValue.Floats(ParseList(() => (float)ParseFloatToken()));
                    case "strings": Advance(); return AttributeValue.Strings(ParseList(ExpectString));
                    case "tensors": Advance(); return AttributeValue.Tensors(ParseList(ParseTensor));
                    case "types": Advance(); return AttributeValue.Types(ParseList(ParseType));
                    case "graphs": Advance(); return AttributeValue.Graphs(ParseList(() => ParseGraphBody(graph)));
                }
                break;
        }
        throw _lex.Error(t, $"expected an attribute value, found {t}");
    }

    private T[] ParseList<T>(Func<T> item)
    {
        Expect("[");
        var list = new List<T>();
        while (!TryPunct("]"))
        {
            if (list.Count > 0) Expect(",");
            list.Add(item());
        }
        return list.ToArray();
    }

    private long ParseIntText(Token t) =>
        long.TryParse(t.Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v) ? v
        : throw _lex.Error(t, $"malformed integer {t}");

    private double ParseFloatText(Token t) =>
        double.TryParse(t.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v
        : throw _lex.Error(t, $"malformed number {t}");

    private double ParseFloatToken()
    {
        bool negative = TryPunct("-");
        var t = Advance();
        double v = t.Kind switch
        {
            TokenKind.Number => ParseFloatText(t),
            TokenKind.Ident when t.Text == "nan" => double.NaN,
            TokenKind.Ident when t.Text == "inf" => double.PositiveInfinity,
            _ => throw _lex.Error(t, $"expected a number, found {t}"),
        };
        return negative ? -v : v;
    }

    private TensorData ParseTensor()
    {
        var at = _tok;
        ExpectWord("dense");
        Expect("<");
        var typeTok = _tok;
        if (ParseType() is not TensorType { Shape.IsStatic: true } type) throw _lex.Error(typeTok, "a tensor literal needs a static tensor type");
        Expect(">");
        long[] shape = type.Shape.ToArray();
        var et = type.ElementType;
        long count;
        try { count = TensorData.CheckedCount(shape); }
        catch (KilnException e) { throw _lex.Error(typeTok, e.Message); }
        if (_tok.Kind == TokenKind.AtName)
        {
            var r = Advance();
            return FromBytes(r, et, shape, ResourceBytes(r, r.Text));
        }
        if (IsIdent("hex"))
        {
            Advance();
            var h = _tok;
            return FromBytes(h, et, shape, ParseHex(h, ExpectString()));
        }
        var t = TensorData.Zeros(et, shape);
        int i = 0;
        var values = ParseList(() =>
        {
            var vt = _tok;
            if (i >= count) throw _lex.Error(vt, $"too many elements for {type}");
            switch (t.Storage)
            {
                case string[] s: s[i] = ExpectString(); break;
                case bool[] b:
                    b[i] = Advance().Text switch { "true" => true, "false" => false, _ => throw _lex.Error(vt, "expected true or false") };
                    break;
                case float[] f: f[i] = (float)ParseFloatToken(); break;
                case double[] d: d[i] = ParseFloatToken(); break;
                case ulong[] u when et == ElementType.UInt64: // a long[] passes for a ulong[] in the CLR
                    var ut = Advance();
                    u[i] = ulong.TryParse(ut.Text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong uv) ? uv : throw _lex.Error(ut, "expected an unsigned integer");
                    break;
                default:
                    if (!et.IsInteger()) throw _lex.Error(vt, $"{et.ShortName()} tensors are written in hex");
                    SetInteger(t, i, ExpectInt());
                    break;
            }
            return i++;
        });
        if (values.Length != count) throw _lex.Error(at, $"{type} needs {count} elements, found {values.Length}");
        return t;
    }

    private static void SetInteger(TensorData t, int i, long v)
    {
        switch (t.Storage)
        {
            case long[] a: a[i] = v; break;
            case int[] a: a[i] = (int)v; break;
            case short[] a: a[i] = (short)v; break;
            case ushort[] a: a[i] = (ushort)v; break;
            case uint[] a: a[i] = (uint)v; break;
            case sbyte[] a: a[i] = (sbyte)v; break;
            case byte[] a: a[i] = (byte)v; break;
        }
    }

    private TensorData FromBytes(Token at, ElementType et, long[] shape, byte[] bytes)
    {
        try { return TensorData.FromBytes(et, shape, bytes); }
        catch (KilnException e) { throw _lex.Error(at, e.Message); }
    }

    // ---- types and dimensions
    private IrType ParseType()
    {
        var t = Advance();
        if (t.Kind != TokenKind.Ident) throw _lex.Error(t, $"expected a type, found {t}");
        if (t.Text is "seq" or "opt")
        {
            Expect("<");
            var inner = ParseType();
            Expect(">");
            return t.Text == "seq" ? new SequenceType(inner) : new OptionalType(inner);
        }
        if (!ElementTypes.TryParseShortName(t.Text, out var et)) throw _lex.Error(t, $"unknown element type '{t.Text}'");
        Expect("[");
        if (TryPunct("*")) { Expect("]"); return new TensorType(et, Shape.Unranked); }
        var dims = new List<Dim>();
        while (!TryPunct("]"))
        {
            if (dims.Count > 0) Expect(",");
            dims.Add(ParseDimSum());
        }
        return new TensorType(et, new Shape(dims));
    }

    private Dim ParseDimSum()
    {
        var d = ParseDimProduct();
        while (true)
        {
            if (TryPunct("+")) d += ParseDimProduct();
            else if (TryPunct("-")) d -= ParseDimProduct();
            else if (_tok.Kind == TokenKind.Number && _tok.Text.StartsWith('-')) d += ParseDimProduct();
            else return d;
        }
    }

    private Dim ParseDimProduct()
    {
        var d = ParseDimAtom();
        while (true)
        {
            if (TryPunct("*")) d *= ParseDimAtom();
            else if (TryPunct("/")) d /= ParseDimAtom();
            else return d;
        }
    }

    private Dim ParseDimAtom()
    {
        var t = Advance();
        switch (t.Kind)
        {
            case TokenKind.Number: return ParseIntText(t);
            case TokenKind.String: return Dim.Symbol(t.Text);
            case TokenKind.Punct when t.Text == "?": return Dim.Unknown();
            case TokenKind.Punct when t.Text == "(":
                var inner = ParseDimSum();
                Expect(")");
                return inner;
            case TokenKind.Ident when t.Text is "ceildiv" or "mod" or "max" or "min" or "eq" or "lt":
                Expect("(");
                var a = ParseDimSum();
                Expect(",");
                var b = ParseDimSum();
                Expect(")");
                return t.Text switch { "ceildiv" => Dim.CeilDiv(a, b), "mod" => a % b, "max" => Dim.Max(a, b), "eq" => Dim.Eq(a, b), "lt" => Dim.Lt(a, b), _ => Dim.Min(a, b) };
            case TokenKind.Ident: return Dim.Symbol(t.Text);
        }
        throw _lex.Error(t, $"expected a dimension, found {t}");
    }
}
