using System.Globalization;
using Kiln.Ir;

namespace Kiln.Conformance;

/// <summary>
/// The suite's comparison rule: element types and shapes exactly equal; floats within
/// |actual − expected| ≤ atol + rtol·|expected| (NaN matches NaN, infinities match exactly);
/// integers, bools and strings exactly. Returns null on a match, else a message that says where.
/// </summary>
public static class Comparison
{
    public static string? Compare(string name, DataValue expected, DataValue actual, double rtol, double atol)
    {
        switch (expected)
        {
            case TensorData e:
                return actual is TensorData a ? CompareTensors(name, e, a, rtol, atol) : $"output '{name}': expected a tensor, got {actual.Type}";
            case SequenceData e:
                if (actual is not SequenceData sa) return $"output '{name}': expected a sequence, got {actual.Type}";
                if (sa.Items.Count != e.Items.Count) return $"output '{name}': expected a sequence of {e.Items.Count} items, got {sa.Items.Count}";
                for (int i = 0; i < e.Items.Count; i++)
                    if (Compare($"{name}[{i}]", e.Items[i], sa.Items[i], rtol, atol) is { } m) return m;
                return null;
            case OptionalData e:
                if (actual is not OptionalData oa) return $"output '{name}': expected an optional, got {actual.Type}";
                if (e.HasValue != oa.HasValue) return $"output '{name}': expected {(e.HasValue ? "a value" : "none")}, got {(oa.HasValue ? "a value" : "none")}";
                return e.Value is null ? null : Compare(name, e.Value, oa.Value!, rtol, atol);
        }
        return $"output '{name}': cannot compare {expected.Type}";
    }

    public static string? CompareTensors(string name, TensorData e, TensorData a, double rtol, double atol)
    {
        if (e.ElementType != a.ElementType)
            return $"output '{name}': element type {a.ElementType.OnnxName()}, expected {e.ElementType.OnnxName()}";
        if (!e.Shape.AsSpan().SequenceEqual(a.Shape))
            return $"output '{name}': shape {TensorData.FormatShape(a.Shape)}, expected {TensorData.FormatShape(e.Shape)}";
        long n = e.ElementCount, bad = 0, first = -1;
        double maxErr = 0;
        if (e.ElementType == ElementType.String)
        {
            var es = e.Data<string>();
            var @as = a.Data<string>();
            for (long i = 0; i < n; i++)
                if (es[i] != @as[i]) { bad++; if (first < 0) first = i; }
            return bad == 0 ? null : $"output '{name}': {bad}/{n} strings differ, first [{first}]: got \"{@as[first]}\", expected \"{es[first]}\"";
        }
        bool isFloat = e.ElementType.IsFloat() || e.ElementType.IsComplex();
        long count = e.Storage.LongLength;
        for (long i = 0; i < count; i++)
        {
            bool ok;
            if (isFloat)
            {
                double x = Element(a, i), y = Element(e, i);
                if (double.IsNaN(y)) ok = double.IsNaN(x);
                else if (double.IsInfinity(y)) ok = x == y;
                else
                {
                    double err = Math.Abs(x - y);
                    ok = err <= atol + rtol * Math.Abs(y);
                    if (!double.IsNaN(err)) maxErr = Math.Max(maxErr, err);
                }
            }
            else ok = e.GetInt64(i) == a.GetInt64(i); // exact for every integer type (uint64 compares its bits)
            if (!ok) { bad++; if (first < 0) first = i; }
        }
        if (bad == 0) return null;
        return $"output '{name}': {bad}/{count} elements differ (max abs error {maxErr.ToString("G3", CultureInfo.InvariantCulture)}), " +
               $"first [{first}]: got {Format(a, first)}, expected {Format(e, first)}";
    }

    private static double Element(TensorData t, long i) => t.ElementType.IsComplex()
        ? (t.Storage is float[] f ? f[i] : ((double[])t.Storage)[i])
        : t.GetDouble(i);

    private static string Format(TensorData t, long i) =>
        t.ElementType.IsFloat() || t.ElementType.IsComplex() ? Element(t, i).ToString("R", CultureInfo.InvariantCulture)
        : t.ElementType == ElementType.UInt64 ? ((ulong[])t.Storage)[i].ToString(CultureInfo.InvariantCulture) : t.GetInt64(i).ToString(CultureInfo.InvariantCulture);
}
