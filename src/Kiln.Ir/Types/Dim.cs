using System.Globalization;
using System.Text;

namespace Kiln.Ir;

/// <summary>
/// One dimension of a shape: a known size, a named symbol (an ONNX dim_param such as "N"), an
/// unknown size (data-dependent, printed "?"), or an expression over symbols built by shape
/// inference (for example (H+1)/2 for a stride-2 convolution on a symbolic height).
/// Immutable. Arithmetic on two known sizes folds to a known size, so shape functions are
/// written once and serve static and symbolic shapes alike.
/// </summary>
public readonly struct Dim : IEquatable<Dim>
{
    private readonly long _value;
    private readonly DimExpr? _expr;

    private Dim(long value, DimExpr? expr) { _value = value; _expr = expr; }

    public static Dim Known(long value) => new(value, null);

    /// <summary>A named symbolic size. Two symbols with the same name are the same size.</summary>
    public static Dim Symbol(string name) => new(0, new DimExpr.Sym(name));

    /// <summary>A fresh size known only at run time; equal only to itself.</summary>
    public static Dim Unknown() => new(0, new DimExpr.Unknown());

    public static implicit operator Dim(long value) => Known(value);

    public bool IsKnown => _expr is null;
    public bool IsSymbolic => _expr is not null;
    public bool IsUnknown => _expr is DimExpr.Unknown;

    /// <summary>The size; throws if it is not known at compile time.</summary>
    public long Value => _expr is null ? _value : throw new InvalidOperationException($"dimension {this} is not static");

    public bool TryGetValue(out long value) { value = _value; return _expr is null; }

    /// <summary>The symbolic form, or null when the size is known.</summary>
    public DimExpr? Expression => _expr;

    /// <summary>The dimension an expression denotes (a constant expression is a known size).</summary>
    public static Dim FromExpression(DimExpr e) => e is DimExpr.Const c ? Known(c.Value) : new Dim(0, e);

    private DimExpr AsExpr() => _expr ?? new DimExpr.Const(_value);

    public static Dim operator +(Dim a, Dim b) => a.IsKnown && b.IsKnown ? Known(a._value + b._value) : FromExpression(DimExpr.Add(a.AsExpr(), b.AsExpr()));
    public static Dim operator -(Dim a, Dim b) => a.IsKnown && b.IsKnown ? Known(a._value - b._value) : FromExpression(DimExpr.Add(a.AsExpr(), DimExpr.Mul(b.AsExpr(), new DimExpr.Const(-1))));
    public static Dim operator *(Dim a, Dim b) => a.IsKnown && b.IsKnown ? Known(a._value * b._value) : FromExpression(DimExpr.Mul(a.AsExpr(), b.AsExpr()));

    /// <summary>Floor division (the rounding shape formulas use).</summary>
    public static Dim operator /(Dim a, Dim b) => a.IsKnown && b.IsKnown ? Known(FloorDiv(a._value, b._value)) : FromExpression(DimExpr.Binary(DimOp.FloorDiv, a.AsExpr(), b.AsExpr()));
    public static Dim operator %(Dim a, Dim b) => a.IsKnown && b.IsKnown ? Known(a._value - FloorDiv(a._value, b._value) * b._value) : FromExpression(DimExpr.Binary(DimOp.Mod, a.AsExpr(), b.AsExpr()));
    public static Dim CeilDiv(Dim a, Dim b) => a.IsKnown && b.IsKnown ? Known(-FloorDiv(-a._value, b._value)) : FromExpression(DimExpr.Binary(DimOp.CeilDiv, a.AsExpr(), b.AsExpr()));
    public static Dim Max(Dim a, Dim b) => a.IsKnown && b.IsKnown ? Known(Math.Max(a._value, b._value)) : a == b ? a : FromExpression(DimExpr.Binary(DimOp.Max, a.AsExpr(), b.AsExpr()));
    /// <summary>1 when the sizes are equal, else 0 (conditions of run-time checks).</summary>
    public static Dim Eq(Dim a, Dim b) => a.IsKnown && b.IsKnown ? Known(a._value == b._value ? 1 : 0) : a == b ? Known(1) : FromExpression(DimExpr.Binary(DimOp.Eq, a.AsExpr(), b.AsExpr()));

    /// <summary>1 when <paramref name="a"/> is less than <paramref name="b"/>, else 0.</summary>
    public static Dim Lt(Dim a, Dim b) => a.IsKnown && b.IsKnown ? Known(a._value < b._value ? 1 : 0) : a == b ? Known(0) : FromExpression(DimExpr.Binary(DimOp.Lt, a.AsExpr(), b.AsExpr()));

    public static Dim Min(Dim a, Dim b) => a.IsKnown && b.IsKnown ? Known(Math.Min(a._value, b._value)) : a == b ? a : FromExpression(DimExpr.Binary(DimOp.Min, a.AsExpr(), b.AsExpr()));

    public static long FloorDiv(long a, long b)
    {
        if (b == 0) throw new DivideByZeroException("dimension division by zero");
        long q = a / b;
        return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
    }

    /// <summary>Evaluates the dimension given values for its symbols; null if a symbol is missing.</summary>
    public long? Evaluate(Func<string, long?> symbols) => _expr is null ? _value : _expr.Evaluate(symbols);

    public bool Equals(Dim other) => _expr is null ? other._expr is null && _value == other._value : _expr.Equals(other._expr);
    public override bool Equals(object? obj) => obj is Dim d && Equals(d);
    public override int GetHashCode() => _expr is null ? _value.GetHashCode() : _expr.GetHashCode();
    public static bool operator ==(Dim a, Dim b) => a.Equals(b);
    public static bool operator !=(Dim a, Dim b) => !a.Equals(b);

    public override string ToString() => _expr is null ? _value.ToString(CultureInfo.InvariantCulture) : _expr.ToString();
}

/// <summary>Operators of dimension expressions; Eq and Lt give 1 or 0 (they appear in run-time checks, not in types).</summary>
public enum DimOp { Add, Mul, FloorDiv, CeilDiv, Mod, Max, Min, Eq, Lt }

/// <summary>Symbolic dimension expression. Immutable; compared structurally (unknowns by identity).</summary>
public abstract class DimExpr : IEquatable<DimExpr>
{
    public sealed class Const(long value) : DimExpr { public long Value { get; } = value; }
    public sealed class Sym(string name) : DimExpr { public string Name { get; } = name; }
    public sealed class Unknown : DimExpr { }
    public sealed class Bin(DimOp op, DimExpr left, DimExpr right) : DimExpr
    {
        public DimOp Op { get; } = op;
        public DimExpr Left { get; } = left;
        public DimExpr Right { get; } = right;
    }

    internal static DimExpr Add(DimExpr a, DimExpr b)
    {
        if (a is Const x && b is Const y) return new Const(x.Value + y.Value);
        if (a is Const ca && ca.Value == 0) return b;
        if (b is Const cb && cb.Value == 0) return a;
        if (a is Const && b is not Const) (a, b) = (b, a);
        // (x + c1) + c2 => x + (c1 + c2)
        if (b is Const c2 && a is Bin { Op: DimOp.Add, Right: Const c1 } inner)
            return Add(inner.Left, new Const(c1.Value + c2.Value));
        return new Bin(DimOp.Add, a, b);
    }

    internal static DimExpr Mul(DimExpr a, DimExpr b)
    {
        if (a is Const x && b is Const y) return new Const(x.Value * y.Value);
        if (a is Const && b is not Const) (a, b) = (b, a);
        if (b is Const cb)
        {
            if (cb.Value == 1) return a;
            if (cb.Value == 0) return cb;
            if (a is Bin { Op: DimOp.Mul, Right: Const c1 } inner) return Mul(inner.Left, new Const(c1.Value * cb.Value));
        }
        return new Bin(DimOp.Mul, a, b);
    }

    internal static DimExpr Binary(DimOp op, DimExpr a, DimExpr b)
    {
        if (b is Const { Value: 1 } && op is DimOp.FloorDiv or DimOp.CeilDiv) return a;
        return op switch
        {
            DimOp.Add => Add(a, b),
            DimOp.Mul => Mul(a, b),
            _ => new Bin(op, a, b),
        };
    }

    public long? Evaluate(Func<string, long?> symbols)
    {
        switch (this)
        {
            case Const c: return c.Value;
            case Sym s: return symbols(s.Name);
            case Unknown: return null;
            case Bin b:
                long? l = b.Left.Evaluate(symbols), r = b.Right.Evaluate(symbols);
                if (l is null || r is null) return null;
                return b.Op switch
                {
                    DimOp.Add => l + r,
                    DimOp.Mul => l * r,
                    DimOp.FloorDiv => Dim.FloorDiv(l.Value, r.Value),
                    DimOp.CeilDiv => -Dim.FloorDiv(-l.Value, r.Value),
                    DimOp.Mod => l.Value - Dim.FloorDiv(l.Value, r.Value) * r.Value,
                    DimOp.Max => Math.Max(l.Value, r.Value),
                    DimOp.Min => Math.Min(l.Value, r.Value),
                    DimOp.Eq => l.Value == r.Value ? 1 : 0,
                    DimOp.Lt => l.Value < r.Value ? 1 : 0,
                    _ => null,
                };
            default: return null;
        }
    }

    /// <summary>Symbols this expression uses, in first-use order.</summary>
    public IEnumerable<string> Symbols()
    {
        switch (this)
        {
            case Sym s: yield return s.Name; break;
            case Bin b:
                foreach (var x in b.Left.Symbols()) yield return x;
                foreach (var x in b.Right.Symbols()) yield return x;
                break;
        }
    }

    public bool Equals(DimExpr? other) => (this, other) switch
    {
        (Const a, Const b) => a.Value == b.Value,
        (Sym a, Sym b) => a.Name == b.Name,
        (Bin a, Bin b) => a.Op == b.Op && a.Left.Equals(b.Left) && a.Right.Equals(b.Right),
        _ => ReferenceEquals(this, other),
    };

    public override bool Equals(object? obj) => obj is DimExpr e && Equals(e);

    public override int GetHashCode() => this switch
    {
        Const c => c.Value.GetHashCode(),
        Sym s => s.Name.GetHashCode(StringComparison.Ordinal),
        Bin b => HashCode.Combine(b.Op, b.Left, b.Right),
        _ => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(this),
    };

    /// <summary>Text form: + - * / (floor division) with the usual precedence; ceildiv, mod, max, min, eq, lt as calls; ? for unknown.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        Write(sb, 0);
        return sb.ToString();
    }

    // Precedence: 0 = sum, 1 = product, 2 = atom.
    private void Write(StringBuilder sb, int context)
    {
        switch (this)
        {
            case Const c: 
                if (c.Value < 0 && context > 0) sb.Append('(').Append(c.Value.ToString(CultureInfo.InvariantCulture)).Append(')');
                else sb.Append(c.Value.ToString(CultureInfo.InvariantCulture));
                break;
            case Sym s: sb.Append(TextSyntax.FormatIdentifier(s.Name)); break;
            case Unknown: sb.Append('?'); break;
            case Bin b:
                switch (b.Op)
                {
                    case DimOp.Add:
                        if (context > 0) sb.Append('(');
                        b.Left.Write(sb, 0);
                        if (b.Right is Const { Value: < 0 } neg) sb.Append(" - ").Append((-neg.Value).ToString(CultureInfo.InvariantCulture));
                        else { sb.Append(" + "); b.Right.Write(sb, 1); }
                        if (context > 0) sb.Append(')');
                        break;
                    case DimOp.Mul or DimOp.FloorDiv:
                        if (context > 1) sb.Append('(');
                        b.Left.Write(sb, 1);
                        sb.Append(b.Op == DimOp.Mul ? "*" : "/");
                        b.Right.Write(sb, 2);
                        if (context > 1) sb.Append(')');
                        break;
                    default:
                        sb.Append(b.Op switch { DimOp.CeilDiv => "ceildiv", DimOp.Mod => "mod", DimOp.Max => "max", DimOp.Eq => "eq", DimOp.Lt => "lt", _ => "min" }).Append('(');
                        b.Left.Write(sb, 0);
                        sb.Append(", ");
                        b.Right.Write(sb, 0);
                        sb.Append(')');
                        break;
                }
                break;
        }
    }
}
