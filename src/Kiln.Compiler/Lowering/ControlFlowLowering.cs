using Kiln.Ir;

namespace Kiln.Compiler.Lowering;

/// <summary>
/// Control flow in the host program. If: the host reads the condition and runs one branch's
/// steps (a constant condition inlines the taken branch); each branch copies its results into
/// the If's result tensors. Scan: a host loop over the scan axis; each iteration copies its input
/// slices, runs the body's steps, copies the new states back, and writes its output slices in place.
/// Shapes must be the same on every path and in every iteration.
/// </summary>
[Lowerings]
public static class ControlFlowLowering
{
    public static void Register(LoweringRegistry r)
    {
        r.Add("If", LowerIf);
        r.Add("Scan", LowerScan);
    }

    private static void LowerIf(LoweringContext ctx)
    {
        var op = ctx.Op;
        if (ctx.Constant(0) is { } known)
        {
            var taken = ctx.LowerNested(op.GetGraph(known.GetDouble(0) != 0 ? "then_branch" : "else_branch"), []);
            for (int i = 0; i < taken.Length; i++) if (op.HasOutput(i)) ctx.SetOutput(i, taken[i]);
            return;
        }
        var results = Enumerable.Range(0, op.Outputs.Count).Select(i => op.HasOutput(i) ? ctx.NewOutput(i) : null).ToArray();
        List<Step> Branch(string name) => ctx.Collect(() =>
        {
            var outputs = ctx.LowerNested(op.GetGraph(name), []);
            for (int i = 0; i < outputs.Length; i++)
            {
                if (results[i] is not { } result) continue;
                if (!outputs[i].Shape.AsSpan().SequenceEqual(result.Shape))
                    throw ctx.Unsupported($"{name} result {i} has shape [{string.Join(",", outputs[i].Shape)}], the If result [{string.Join(",", result.Shape)}]");
                ctx.Add(new CopyStep(outputs[i], result));
            }
        });
        var then = Branch("then_branch");
        var otherwise = Branch("else_branch");
        ctx.Add(new IfStep(ctx.Input(0), then, otherwise));
    }

    private static void LowerScan(LoweringContext ctx)
    {
        var op = ctx.Op;
        var body = op.GetGraph("body");
        int scanInputs = (int)op.GetInt("num_scan_inputs");
        int states = op.Inputs.Count - scanInputs;
        int scanOutputs = op.Outputs.Count - states;
        long[] Attr(string name, int count) => op.GetInts(name) ?? new long[count];
        var inAxes = Attr("scan_input_axes", scanInputs);
        var inDirections = Attr("scan_input_directions", scanInputs);
        var outAxes = Attr("scan_output_axes", scanOutputs);
        var outDirections = Attr("scan_output_directions", scanOutputs);
        if (scanInputs == 0) throw ctx.Unsupported("a Scan without scan inputs");

        var first = ctx.Input(states);
        int axis0 = Axis(inAxes[0], first.Rank);
        Dim length = first.Shape[axis0];
        string k = ctx.NewSymbol("scan");
        Dim iteration = Dim.Symbol(k);

        // Final states live in the Scan's results from the start; the initial values are copied in.
        var stateTensors = new TensorRef[states];
        for (int i = 0; i < states; i++)
        {
            stateTensors[i] = ctx.NewOutput(i);
            ctx.Add(new CopyStep(ctx.Input(i), stateTensors[i]));
        }
        var results = Enumerable.Range(0, scanOutputs).Select(j => ctx.NewOutput(states + j)).ToArray();

        var loop = ctx.Collect(() =>
        {
            var bodyInputs = new List<TensorRef>(stateTensors);
            for (int j = 0; j < scanInputs; j++)
            {
                var x = ctx.Input(states + j);
                int axis = Axis(inAxes[j], x.Rank);
                if (x.Shape[axis] != length) throw ctx.Unsupported("scan inputs of different lengths");
                var slice = ctx.NewTemporary(x.DType, Without(x.Shape, axis));
                Dim position = inDirections[j] != 0 ? length - 1 - iteration : iteration;
                var strides = Layout.ContiguousStrides(x.Shape);
                StridedCopy.Emit(ctx, slice.Shape, new StridedView(x, position * strides[axis], Without(strides, axis)), StridedView.Contiguous(slice));
                bodyInputs.Add(slice);
            }
            var outputs = ctx.LowerNested(body, bodyInputs);
            // New states: staged through temporaries when a result is itself a state (a swap would clobber it).
            var staged = new TensorRef[states];
            for (int i = 0; i < states; i++)
            {
                staged[i] = outputs[i];
                if (stateTensors.Any(s => s.Block == outputs[i].Block))
                {
                    staged[i] = ctx.NewTemporary(outputs[i].DType, outputs[i].Shape);
                    ctx.Add(new CopyStep(outputs[i], staged[i]));
                }
            }
            for (int i = 0; i < states; i++)
                if (!ReferenceEquals(staged[i], stateTensors[i])) ctx.Add(new CopyStep(staged[i], stateTensors[i]));
            for (int j = 0; j < scanOutputs; j++)
            {
                var y = results[j];
                int axis = Axis(outAxes[j], y.Rank);
                Dim position = outDirections[j] != 0 ? length - 1 - iteration : iteration;
                var strides = Layout.ContiguousStrides(y.Shape);
                var part = outputs[states + j];
                StridedCopy.Emit(ctx, part.Shape, StridedView.Contiguous(part), new StridedView(y, position * strides[axis], Without(strides, axis)));
            }
        });
        ctx.Add(new ForStep(length, k, loop));
    }

    private static int Axis(long axis, int rank) => (int)(axis < 0 ? axis + rank : axis);

    private static Dim[] Without(IReadOnlyList<Dim> dims, int axis) => dims.Where((_, i) => i != axis).ToArray();
}
