using Kiln.Ir;
using Kiln.Runtime;

namespace Kiln.Compiler.Lowering;

/// <summary>
/// Sequences and optionals in the host program. A sequence is an immutable list object in an object
/// register, changed only by "seq" imports that return a new list; an optional is an object register
/// that may be null. A tensor put into a sequence or optional is copied into a buffer of its own (it
/// must outlive the arena); a tensor taken out is a view whose sizes the host reads at run time.
/// SequenceMap is a host loop over its sequences' positions.
/// </summary>
[Lowerings]
public static class SequenceLowering
{
    public static void Register(LoweringRegistry r)
    {
        r.Add("SequenceEmpty", ctx => ctx.Add(new ObjectStep("seq.empty", [], [(long)ElementDType(ctx.Op.Output(0).Type)], ctx.NewObjectOutput(0))));
        r.Add("SequenceConstruct", LowerConstruct);
        r.Add("SequenceInsert", LowerInsert);
        r.Add("SequenceErase", LowerErase);
        r.Add("SequenceAt", ctx =>
        {
            var view = Temporary(ctx, "at");
            ctx.Add(new ObjectStep("seq.at", [ctx.ObjectInput(0)], [Position(ctx, 1) ?? throw ctx.Unsupported("SequenceAt without a position")], view));
            ctx.ViewOutput(0, view, "");
        });
        r.Add("SequenceLength", ctx =>
        {
            string length = ctx.NewSymbol("length");
            ctx.Add(new ObjectStep("seq.length", [ctx.ObjectInput(0)], [], null, length));
            ctx.Add(new StoreDimsStep(ctx.NewOutput(0), [Dim.Symbol(length)]));
        });
        r.Add("ConcatFromSequence", ctx =>
        {
            var view = Temporary(ctx, "concat");
            ctx.Add(new ObjectStep("seq.concat", [ctx.ObjectInput(0)], [ctx.Op.GetInt("axis"), ctx.Op.GetInt("new_axis", 0)], view));
            ctx.ViewOutput(0, view, "");
        });
        r.Add("SplitToSequence", LowerSplit);
        r.Add("SequenceMap", LowerMap);
        r.Add("Optional", LowerOptional);
        r.Add("OptionalHasElement", LowerHasElement);
        r.Add("OptionalGetElement", LowerGetElement);
    }

    /// <summary>The dtype of a sequence's (or an optional sequence's) tensors.</summary>
    private static DType ElementDType(IrType type)
    {
        if (type is OptionalType o) type = o.ElementType;
        if (type is SequenceType s) type = s.ElementType;
        return type is TensorType t ? LoweringContext.DTypeOf(t.ElementType) : throw new KilnException(ErrorCode.UnsupportedOperator, $"not supported by the compiled path: {type} values");
    }

    private static ObjectRef Temporary(LoweringContext ctx, string hint) =>
        new(new TensorType(ElementType.Undefined, Shape.Unranked), ctx.NewSymbol(hint));

    /// <summary>A tensor copied into a buffer of its own, as a view object.</summary>
    private static ObjectRef Owned(LoweringContext ctx, TensorRef t)
    {
        var view = Temporary(ctx, "item");
        ctx.Add(new TensorToObjectStep(t, view, copy: true));
        return view;
    }

    /// <summary>A position operand: its constant value, or the value the host reads from it; null when absent.</summary>
    private static Dim? Position(LoweringContext ctx, int i)
    {
        if (!ctx.HasInput(i)) return null;
        if (ctx.Constant(i) is { } c) return c.GetInt64(0);
        string symbol = ctx.NewSymbol("position");
        ctx.Add(new ReadDimStep(ctx.Input(i), symbol));
        return Dim.Symbol(symbol);
    }

    private static void LowerConstruct(LoweringContext ctx)
    {
        var sequence = Temporary(ctx, "seq");
        ctx.Add(new ObjectStep("seq.empty", [], [(long)ElementDType(ctx.Op.Output(0).Type)], sequence));
        for (int i = 0; i < ctx.Op.Inputs.Count; i++)
        {
            var next = i == ctx.Op.Inputs.Count - 1 ? ctx.NewObjectOutput(0) : Temporary(ctx, "seq");
            ctx.Add(new ObjectStep("seq.insert", [sequence, Owned(ctx, ctx.Input(i))], [i], next));
            sequence = next;
        }
        if (ctx.Op.Inputs.Count == 0) ctx.SetOutputValue(0, sequence);
    }

    private static void LowerInsert(LoweringContext ctx)
    {
        var sequence = ctx.ObjectInput(0);
        var item = Owned(ctx, ctx.Input(1));
        var position = Position(ctx, 2);
        if (position is null)
        {
            // At the back: the position is the length.
            string length = ctx.NewSymbol("length");
            ctx.Add(new ObjectStep("seq.length", [sequence], [], null, length));
            position = Dim.Symbol(length);
        }
        ctx.Add(new ObjectStep("seq.insert", [sequence, item], [position.Value], ctx.NewObjectOutput(0)));
    }

    private static void LowerErase(LoweringContext ctx) =>
        ctx.Add(new ObjectStep("seq.erase", [ctx.ObjectInput(0)], [Position(ctx, 1) ?? (Dim)(-1)], ctx.NewObjectOutput(0)));

    /// <summary>The runtime splits (its sizes may come from data): the input and the sizes are passed as views in place.</summary>
    private static void LowerSplit(LoweringContext ctx)
    {
        var source = Temporary(ctx, "split.input");
        ctx.Add(new TensorToObjectStep(ctx.Input(0), source, copy: false));
        ObjectRef? sizes = null;
        if (ctx.HasInput(1))
        {
            sizes = Temporary(ctx, "split.sizes");
            ctx.Add(new TensorToObjectStep(ctx.Input(1), sizes, copy: false));
        }
        ctx.Add(new ObjectStep("seq.split", [source, sizes], [ctx.Op.GetInt("axis", 0), ctx.Op.GetInt("keepdims", 1)], ctx.NewObjectOutput(0)));
    }

    /// <summary>
    /// SequenceMap: a host loop over the first sequence's positions; each iteration takes the
    /// tensors at that position out of the sequence operands, lowers the body, and appends its
    /// results to the output sequences.
    /// </summary>
    private static void LowerMap(LoweringContext ctx)
    {
        var op = ctx.Op;
        var body = op.GetGraph("body");
        string count = ctx.NewSymbol("map.count");
        ctx.Add(new ObjectStep("seq.length", [ctx.ObjectInput(0)], [], null, count));
        var results = new ObjectRef[op.Outputs.Count];
        for (int j = 0; j < results.Length; j++)
        {
            results[j] = ctx.NewObjectOutput(j);
            ctx.Add(new ObjectStep("seq.empty", [], [(long)ElementDType(op.Output(j).Type)], results[j]));
        }
        string k = ctx.NewSymbol("map");
        var loop = ctx.Collect(() =>
        {
            var inputs = new object[op.Inputs.Count];
            for (int i = 0; i < inputs.Length; i++)
            {
                if (!ctx.IsObject(i)) { inputs[i] = ctx.Input(i); continue; }
                var view = Temporary(ctx, "map.item");
                ctx.Add(new ObjectStep("seq.at", [ctx.ObjectInput(i)], [Dim.Symbol(k)], view));
                inputs[i] = ctx.BindView(body.Inputs[i], view, "");
            }
            var outputs = ctx.LowerNestedValues(body, inputs);
            for (int j = 0; j < results.Length; j++)
            {
                if (outputs[j] is not TensorRef t) throw ctx.Unsupported($"body result {j} is not a tensor");
                ctx.Add(new ObjectStep("seq.insert", [results[j], Owned(ctx, t)], [Dim.Symbol(k)], results[j]));
            }
        });
        ctx.Add(new ForStep(Dim.Symbol(count), k, loop));
    }

    private static void LowerOptional(LoweringContext ctx)
    {
        var result = ctx.NewObjectOutput(0);
        if (!ctx.HasInput(0)) ctx.Add(new MoveObjectStep(null, result));
        else if (ctx.IsObject(0)) ctx.Add(new MoveObjectStep(ctx.ObjectInput(0), result));
        else ctx.Add(new TensorToObjectStep(ctx.Input(0), result, copy: true));
    }

    private static void LowerHasElement(LoweringContext ctx)
    {
        var result = ctx.NewOutput(0);
        if (ctx.IsObject(0)) ctx.Add(new HasObjectStep(ctx.ObjectInput(0), result));
        else StridedCopy.Fill(ctx, [], StridedView.Contiguous(result), ctx.HasInput(0) ? 1 : 0);
    }

    private static void LowerGetElement(LoweringContext ctx)
    {
        if (!ctx.IsObject(0)) { ctx.SetOutput(0, ctx.Input(0)); return; }
        string none = $"{ctx.Op.Describe()}: the optional input is none";
        var type = ctx.Op.Input(0).Type;
        if (type is SequenceType) ctx.SetOutputValue(0, ctx.ObjectInput(0));
        else if (ctx.Op.Output(0).Type is SequenceType) ctx.Add(new MoveObjectStep(ctx.ObjectInput(0), ctx.NewObjectOutput(0), none));
        else ctx.ViewOutput(0, ctx.ObjectInput(0), none);
    }
}
