using System.Globalization;
using System.Text;

namespace Kiln.Ir;

/// <summary>
/// Prints a model or graph in Kiln's IR text form; <see cref="IrParser"/> reads it back, and
/// printing what was parsed gives the same text again. The form, by example:
/// <code>
/// model ir_version=8 producer="pytorch" producer_version="2.1" opsets={"": 13}
/// graph @main(%x: f32[N,3,H,W]) {
///   %w = Constant() {value = dense&lt;f32[8,3,3,3]&gt; @r0} : f32[8,3,3,3]
///   %y = Conv(%x, %w, _) {pads = ints[1, 1, 1, 1]} : f32[N,8,H,W] @"conv1"
///   return %y
/// }
/// resources {
///   r0 = hex"3F800000..."
/// }
/// </code>
/// '_' marks an absent optional operand or result; "@..." after the types is the node name.
/// Tensors of up to <see cref="InlineElementLimit"/> elements print their values inline; larger
/// ones print as little-endian bytes in the resources section.
/// </summary>
public sealed class IrPrinter
{
    public const int InlineElementLimit = 16;

    private readonly StringBuilder _sb = new();
    private readonly List<TensorData> _resources = [];
    private int _indent;

    private IrPrinter() { }

    public static string Print(Model model)
    {
        var p = new IrPrinter();
        p.PrintModel(model);
        return p.Finish();
    }

    public static string Print(Graph graph)
    {
        var p = new IrPrinter();
        p.PrintGraph(graph);
        p._sb.Append('\n');
        return p.Finish();
    }

    private string Finish()
    {
        if (_resources.Count > 0)
        {
            _sb.Append("resources {\n");
            for (int i = 0; i < _resources.Count; i++)
            {
                _sb.Append("  r").Append(i.ToString(CultureInfo.InvariantCulture)).Append(" = hex\"");
                AppendHex(_resources[i]);
                _sb.Append("\"\n");
            }
            _sb.Append("}\n");
        }
        return _sb.ToString();
    }

    private void PrintModel(Model m)
    {
        _sb.Append("model ir_version=").Append(m.IrVersion.ToString(CultureInfo.InvariantCulture));
        _sb.Append(" producer=").Append(TextSyntax.Quote(m.ProducerName));
        _sb.Append(" producer_version=").Append(TextSyntax.Quote(m.ProducerVersion));
        _sb.Append(" opsets={");
        bool first = true;
        foreach (var (domain, version) in m.OpsetImports)
        {
            if (!first) _sb.Append(", ");
            first = false;
            _sb.Append(TextSyntax.Quote(domain)).Append(": ").Append(version.ToString(CultureInfo.InvariantCulture));
        }
        _sb.Append("}\n");
        PrintGraph(m.Graph);
        _sb.Append('\n');
    }

    private void PrintGraph(Graph g)
    {
        _sb.Append("graph @").Append(TextSyntax.FormatValueName(g.Name)).Append('(');
        for (int i = 0; i < g.Inputs.Count; i++)
        {
            if (i > 0) _sb.Append(", ");
            _sb.Append('%').Append(TextSyntax.FormatValueName(g.Inputs[i].Name)).Append(": ").Append(g.Inputs[i].Type);
        }
        _sb.Append(") {\n");
        _indent++;
        foreach (var op in g.Operations) PrintOperation(op);
        Indent();
        _sb.Append("return");
        for (int i = 0; i < g.Outputs.Count; i++)
            _sb.Append(i == 0 ? " " : ", ").Append('%').Append(TextSyntax.FormatValueName(g.Outputs[i].Name));
        _sb.Append('\n');
        _indent--;
        Indent();
        _sb.Append('}');
    }

    private void PrintOperation(Operation op)
    {
        Indent();
        if (op.Outputs.Count > 0)
        {
            for (int i = 0; i < op.Outputs.Count; i++)
            {
                if (i > 0) _sb.Append(", ");
                AppendRef(op.Outputs[i]);
            }
            _sb.Append(" = ");
        }
        _sb.Append(op.QualifiedType).Append('(');
        for (int i = 0; i < op.Inputs.Count; i++)
        {
            if (i > 0) _sb.Append(", ");
            AppendRef(op.Inputs[i]);
        }
        _sb.Append(')');
        if (op.Attributes.Count > 0)
        {
            _sb.Append(" {");
            bool first = true;
            foreach (var (name, attr) in op.Attributes)
            {
                _sb.Append(first ? "" : ", ").Append(TextSyntax.FormatIdentifier(name)).Append(" = ");
                first = false;
                PrintAttribute(attr);
            }
            _sb.Append('}');
        }
        var present = op.Outputs.Where(o => o is not null).ToList();
        if (present.Count > 0)
        {
            _sb.Append(" : ");
            for (int i = 0; i < present.Count; i++)
            {
                if (i > 0) _sb.Append(", ");
                _sb.Append(present[i]!.Type);
            }
        }
        if (op.Name.Length > 0) _sb.Append(" @").Append(TextSyntax.Quote(op.Name));
        _sb.Append('\n');
    }

    private void AppendRef(Value? v)
    {
        if (v is null) _sb.Append('_');
        else _sb.Append('%').Append(TextSyntax.FormatValueName(v.Name));
    }

    private void PrintAttribute(AttributeValue a)
    {
        switch (a.Kind)
        {
            case AttributeKind.Int: _sb.Append(a.AsInt().ToString(CultureInfo.InvariantCulture)); break;
            case AttributeKind.Float: _sb.Append(TextSyntax.FormatFloat(a.AsFloat(), true)); break;
            case AttributeKind.String: _sb.Append(TextSyntax.Quote(a.AsString())); break;
            case AttributeKind.Tensor: PrintTensor(a.AsTensor()); break;
            case AttributeKind.Type: _sb.Append("type<").Append(a.AsType()).Append('>'); break;
            case AttributeKind.Graph: PrintGraph(a.AsGraph()); break;
            case AttributeKind.Ints: PrintList("ints", a.AsInts(), v => _sb.Append(v.ToString(CultureInfo.InvariantCulture))); break;
            case AttributeKind.Floats: PrintList("floats", a.AsFloats(), v => _sb.Append(TextSyntax.FormatFloat(v, true))); break;
            case AttributeKind.Strings: PrintList("strings", a.AsStrings(), v => _sb.Append(TextSyntax.Quote(v))); break;
            case AttributeKind.Tensors: PrintList("tensors", a.AsTensors(), PrintTensor); break;
            case AttributeKind.Types: PrintList("types", a.AsTypes(), v => _sb.Append(v)); break;
            case AttributeKind.Graphs: PrintList("graphs", a.AsGraphs(), PrintGraph); break;
        }
    }

    private void PrintList<T>(string keyword, T[] items, Action<T> print)
    {
        _sb.Append(keyword).Append('[');
        for (int i = 0; i < items.Length; i++)
        {
            if (i > 0) _sb.Append(", ");
            print(items[i]);
        }
        _sb.Append(']');
    }

    private void PrintTensor(TensorData t)
    {
        _sb.Append("dense<").Append(t.ElementType.ShortName()).Append(TensorData.FormatShape(t.Shape)).Append('>');
        if (t.ElementCount > InlineElementLimit && t.ElementType != ElementType.String)
        {
            _sb.Append(" @r").Append(_resources.Count.ToString(CultureInfo.InvariantCulture));
            _resources.Add(t);
            return;
        }
        switch (t.Storage)
        {
            case string[] s: PrintList("", s, v => _sb.Append(TextSyntax.Quote(v))); break;
            case bool[] b: PrintList("", b, v => _sb.Append(v ? "true" : "false")); break;
            case float[] f when t.ElementType == ElementType.Float32: PrintList("", f, v => _sb.Append(TextSyntax.FormatFloat(v, true))); break;
            case double[] d when t.ElementType == ElementType.Float64: PrintList("", d, v => _sb.Append(TextSyntax.FormatFloat(v, false))); break;
            default:
                if (t.ElementType.IsInteger())
                {
                    var values = new string[t.ElementCount];
                    for (long i = 0; i < values.LongLength; i++)
                        values[i] = t.ElementType == ElementType.UInt64 ? ((ulong[])t.Storage)[i].ToString(CultureInfo.InvariantCulture) : t.GetInt64(i).ToString(CultureInfo.InvariantCulture);
                    PrintList("", values, v => _sb.Append(v));
                }
                else
                {
                    // Small floats, complex: exact bytes.
                    _sb.Append(" hex\"");
                    AppendHex(t);
                    _sb.Append('"');
                }
                break;
        }
    }

    private void AppendHex(TensorData t)
    {
        var bytes = t.AsBytes();
        Span<char> buf = stackalloc char[2];
        foreach (byte b in bytes)
        {
            b.TryFormat(buf, out _, "X2", CultureInfo.InvariantCulture);
            _sb.Append(buf);
        }
    }

    private void Indent() => _sb.Append(' ', _indent * 2);
}
