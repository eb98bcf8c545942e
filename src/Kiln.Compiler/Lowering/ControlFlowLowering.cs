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
        r.Add("Loop", LowerLoop);
    }

    /// <summary>
    /// Loop(M, cond, v...): a host loop of at most M iterations (M constant, or read from its tensor
    /// at run time) that stops when the condition it carries becomes false. The body gets the
    /// iteration number and the condition as tensors; carried values keep one shape. Scan outputs
    /// need a fixed number of iterations: a condition that cannot end the loop early (M known, or
    /// read at run time: the scan outputs are then sized by it when the program reaches the loop).
    /// </summary>
    private static void LowerLoop(LoweringContext ctx)
    {
        var op = ctx.Op;
        var body = op.GetGraph("body");
        int carried = op.Inputs.Count - 2;
        int scanOutputs = op.Outputs.Count - carried;
        string k = ctx.NewSymbol("loop");

        Dim count;
        if (!ctx.HasInput(0)) count = long.MaxValue;
        else if (ctx.Constant(0) is { } m) count = m.GetInt64(0);
        else
        {
            string trips = ctx.NewSymbol("trips");
            ctx.Add(new ReadDimStep(ctx.Input(0), trips));
            count = Dim.Symbol(trips);
        }
        // A condition that cannot stop the loop early: the body passes it through (itself or an
        // Identity of it), so the loop runs M times, or none when the initial condition is false.
        var conditionOut = body.Outputs[0];
        bool passedThrough = ReferenceEquals(conditionOut, body.Inputs[1])
            || (conditionOut.Producer is { OpType: "Identity", Domain: "" } identity && ReferenceEquals(identity.Input(0), body.Inputs[1]));
        if (scanOutputs > 0 && ((count.IsKnown && count.Value == long.MaxValue) || !passedThrough))
            throw ctx.Unsupported("scan outputs of a loop that a condition may end early (their length would be known only after the loop)");
        if (scanOutputs > 0)
        {
            Dim runs = Dim.Max(count, 0);
            if (ctx.HasInput(1)) runs *= ctx.Constant(1) is { } initial ? (initial.GetDouble(0) != 0 ? 1 : 0) : ShapeOperands.Read(ctx, 1)![0];
            // Each scan output has one row of the body's result per iteration run.
            if (!runs.IsKnown)
                for (int j = 0; j < scanOutputs; j++)
                {
                    if (body.Outputs[1 + carried + j].Type is not TensorType { Shape.IsStatic: true } part)
                        throw ctx.Unsupported($"scan output {j} of a loop with a run-time trip count has a per-iteration shape known only at run time");
                    ctx.DefineOutputShape(carried + j, [runs, .. part.Shape.Dims]);
                }
        }

        var iterationTensor = ctx.NewTemporary(Runtime.DType.Int64, []);
        var condition = ctx.NewTemporary(Runtime.DType.Bool, []);
        if (ctx.HasInput(1)) ctx.Add(new CopyStep(ctx.Input(1), condition));
        else StridedCopy.Fill(ctx, [], StridedView.Contiguous(condition), 1);
        // Carried sequences and optionals are object registers: moved, never copied.
        var states = new TensorRef[carried];
        var objectStates = new ObjectRef?[carried];
        for (int i = 0; i < carried; i++)
        {
            if (ctx.IsObject(2 + i))
            {
                objectStates[i] = ctx.NewObjectOutput(i);
                ctx.Add(new MoveObjectStep(ctx.ObjectInput(2 + i), objectStates[i]!));
                continue;
            }
            states[i] = ctx.NewOutput(i);
            ctx.Add(new CopyStep(ctx.Input(2 + i), states[i]));
        }
        var results = Enumerable.Range(0, scanOutputs).Select(j => ctx.NewOutput(carried + j)).ToArray();

        var loop = ctx.Collect(() =>
        {
            ctx.Add(new StoreDimsStep(iterationTensor, [Dim.Symbol(k)]));
            var values = ctx.LowerNestedValues(body, [iterationTensor, condition, .. Enumerable.Range(0, carried).Select(i => (object?)objectStates[i] ?? states[i])]);
            var outputs = values.Select(v => v as TensorRef).ToArray();
            // New object states, staged when one is another state's register (a swap would clobber it).
            var staged = new ObjectRef?[carried];
            for (int i = 0; i < carried; i++)
            {
                if (objectStates[i] is null) continue;
                var o = values[1 + i] as ObjectRef ?? throw ctx.Unsupported($"loop-carried value {i} becomes a tensor");
                staged[i] = o;
                if (objectStates.Any(s => s == o) && o != objectStates[i])
                {
                    staged[i] = new ObjectRef(o.Type, ctx.NewSymbol("state"));
                    ctx.Add(new MoveObjectStep(o, staged[i]!));
                }
            }
            for (int i = 0; i < carried; i++)
                if (staged[i] is { } o && o != objectStates[i]) ctx.Add(new MoveObjectStep(o, objectStates[i]!));
            // Scan rows first: a row may be a view of a carried value that the updates below overwrite.
            for (int j = 0; j < scanOutputs; j++)
            {
                var part = outputs[1 + carried + j] ?? throw ctx.Unsupported("a scan output that is not a tensor");
                var strides = Layout.ContiguousStrides(results[j].Shape);
                StridedCopy.Emit(ctx, part.Shape, StridedView.Contiguous(part), new StridedView(results[j], Dim.Symbol(k) * strides[0], strides[1..]));
            }
            var next = new TensorRef[carried + 1];
            for (int i = 0; i <= carried; i++)
            {
                if (i > 0 && objectStates[i - 1] is not null) continue;
                var output = outputs[i] ?? throw ctx.Unsupported($"loop-carried value {i} becomes a sequence or optional");
                var target = i == 0 ? condition : states[i - 1];
                if (!output.Shape.AsSpan().SequenceEqual(target.Shape))
                    throw ctx.Unsupported($"loop-carried value {i} changes shape from [{string.Join(",", target.Shape)}] to [{string.Join(",", output.Shape)}]");
                // Stage results that are themselves carried tensors, so updates cannot clobber each other.
                next[i] = output;
                if (output.Block == condition.Block || states.Any(s => s is not null && s.Block == output.Block))
                {
                    next[i] = ctx.NewTemporary(output.DType, output.Shape);
                    ctx.Add(new CopyStep(output, next[i]));
                }
            }
            for (int i = 0; i <= carried; i++)
            {
                if (i > 0 && objectStates[i - 1] is not null) continue;
                var target = i == 0 ? condition : states[i - 1];
                if (!ReferenceEquals(next[i], target)) ctx.Add(new CopyStep(next[i], target));
            }
        });
        ctx.Add(new ForStep(count, k, loop, condition));
    }

    private static void LowerIf(LoweringContext ctx)
    {
        var op = ctx.Op;
        if (ctx.Constant(0) is { } known)
        {
            var taken = ctx.LowerNestedValues(op.GetGraph(known.GetDouble(0) != 0 ? "then_branch" : "else_branch"), []);
            for (int i = 0; i < taken.Length; i++) if (op.HasOutput(i)) ctx.SetOutputValue(i, taken[i]);
            return;
        }
        // Sequence and optional results are object registers each branch assigns.
        var objects = Enumerable.Range(0, op.Outputs.Count).Select(i => op.HasOutput(i) && op.Output(i).Type is not TensorType ? ctx.NewObjectOutput(i) : null).ToArray();
        var results = Enumerable.Range(0, op.Outputs.Count).Select(i => op.HasOutput(i) && objects[i] is null ? ctx.NewOutput(i) : null).ToArray();
        List<Step> Branch(string name) => ctx.Collect(() =>
        {
            var values = ctx.LowerNestedValues(op.GetGraph(name), []);
            for (int i = 0; i < values.Length; i++)
                if (objects[i] is { } o) ctx.Add(new MoveObjectStep(values[i] as ObjectRef ?? throw ctx.Unsupported($"{name} result {i} is a tensor where the If gives {o.Type}"), o));
            var outputs = values.Select(v => v as TensorRef).ToArray();
            for (int i = 0; i < outputs.Length; i++)
            {
                if (results[i] is not { } result || outputs[i] is null) continue;
                if (!outputs[i]!.Shape.AsSpan().SequenceEqual(result.Shape))
                    throw ctx.Unsupported($"{name} result {i} has shape [{string.Join(",", outputs[i]!.Shape)}], the If result [{string.Join(",", result.Shape)}]");
                ctx.Add(new CopyStep(outputs[i]!, result));
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
