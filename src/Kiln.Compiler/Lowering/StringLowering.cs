using Kiln.Ir;
using Kiln.Ops;
using Kiln.Ops.Operators;

namespace Kiln.Compiler.Lowering;

/// <summary>
/// String tensors in the host program. A string tensor is an immutable object in an object register
/// (like a sequence), made and read only by "str" imports (<c>Kiln.Runtime.Vm.StringModule</c>);
/// string constants and attribute strings (a pattern, stopwords, a LabelEncoder's keys or values)
/// become constant string lists of the module. Where an operator mixes strings and numbers, the
/// numbers are tensors: a numeric result is a view the import makes in a buffer of its own (its sizes
/// read and checked like a tensor taken out of a sequence), a numeric operand is passed as a view in
/// place (the import reads it after pending work).
/// </summary>
[Lowerings]
public static class StringLowering
{
    public static void Register(LoweringRegistry r)
    {
        r.Add("StringConcat", ctx => ctx.Add(new ObjectStep("str.concat", [ctx.StringInput(0), ctx.StringInput(1)], [], ctx.NewObjectOutput(0))));
        r.Add("RegexFullMatch", ctx =>
        {
            var view = Temporary(ctx, "match");
            ctx.Add(new ObjectStep("str.regex_full_match", [ctx.StringInput(0)], [ctx.Plan.StringList([ctx.Op.GetString("pattern")])], view));
            ctx.ViewOutput(0, view, "");
        });
        r.Add("StringNormalizer", LowerNormalizer);
        r.Add("StringSplit", LowerSplit);
        r.Add("LabelEncoder", LowerLabelEncoder, MlDomain.Domain);
    }

    /// <summary>Whether an elementwise operator's operands are strings (Equal is the only one that takes them).</summary>
    public static bool TakesStrings(LoweringContext ctx) =>
        ctx.Op.Inputs.Count > 0 && ctx.Op.Input(0).Type is TensorType { ElementType: ElementType.String };

    /// <summary>Equal on strings: a bool tensor, broadcast.</summary>
    public static void LowerEqual(LoweringContext ctx)
    {
        var view = Temporary(ctx, "equal");
        ctx.Add(new ObjectStep("str.equal", [ctx.StringInput(0), ctx.StringInput(1)], [], view));
        ctx.ViewOutput(0, view, "");
    }

    private static ObjectRef Temporary(LoweringContext ctx, string hint) =>
        new(new TensorType(ElementType.Undefined, Shape.Unranked), ctx.NewSymbol(hint));

    private static void LowerNormalizer(LoweringContext ctx)
    {
        var op = ctx.Op;
        long action = op.GetString("case_change_action", "NONE") switch
        {
            "NONE" => 0,
            "LOWER" => 1,
            "UPPER" => 2,
            var other => throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: unknown case_change_action '{other}'"),
        };
        long stopwords = op.GetStrings("stopwords") is { Length: > 0 } words ? ctx.Plan.StringList(words) : -1;
        ctx.Add(new ObjectStep("str.normalize", [ctx.StringInput(0)], [stopwords, op.GetInt("is_case_sensitive", 0) != 0 ? 1 : 0, action], ctx.NewObjectOutput(0)));
    }

    private static void LowerSplit(LoweringContext ctx)
    {
        var op = ctx.Op;
        string delimiter = op.GetString("delimiter", "");
        long list = delimiter.Length > 0 ? ctx.Plan.StringList([delimiter]) : -1;
        long maxSplit = op.GetInt("maxsplit", -1);
        var pieces = op.HasOutput(0) ? ctx.NewObjectOutput(0) : Temporary(ctx, "split.pieces");
        var counts = Temporary(ctx, "split.counts");
        ctx.Add(new ObjectStep("str.split", [ctx.StringInput(0)], [list, maxSplit < 0 ? -1 : maxSplit], pieces, moreResults: [counts]));
        if (op.HasOutput(1)) ctx.ViewOutput(1, counts, "");
    }

    /// <summary>
    /// LabelEncoder: its keys, values and default (attribute lists or tensors, as the reference reads
    /// them) become string-list constants or constant segments; the input and a numeric result are
    /// views. The import checks kinds, dtypes and counts again (a module's tables are not trusted).
    /// </summary>
    private static void LowerLabelEncoder(LoweringContext ctx)
    {
        var op = ctx.Op;
        var (keys, values, fallback) = Kiln.Ops.Operators.MlDomain.ReadLabelEncoderTable(op);
        ObjectRef x;
        if (ctx.InputElementType(0) == ElementType.String) x = ctx.StringInput(0);
        else
        {
            x = Temporary(ctx, "labels.input");
            ctx.Add(new TensorToObjectStep(ctx.Input(0), x, copy: false));
        }
        var step = new ObjectStep("str.label_encoder", [x, Table(ctx, keys, "labels.keys"), Table(ctx, values, "labels.values"), Table(ctx, fallback, "labels.default")], [],
            values.ElementType == ElementType.String ? ctx.NewObjectOutput(0) : Temporary(ctx, "labels"));
        ctx.Add(step);
        if (values.ElementType != ElementType.String) ctx.ViewOutput(0, step.Result!, "");
    }

    /// <summary>A constant table as an object: a string tensor, or a view of a constant segment.</summary>
    private static ObjectRef Table(LoweringContext ctx, TensorData data, string hint)
    {
        if (data.ElementType == ElementType.String) return ctx.StringConstant(data.Data<string>(), data.Shape.ToArray(), hint);
        var view = Temporary(ctx, hint);
        ctx.Add(new TensorToObjectStep(ctx.NewConstant(data), view, copy: false));
        return view;
    }
}
