using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Scan(states..., scan inputs...): runs body(states..., slices...) -> (states..., scan outputs...)
/// once per index of the scan axis. Each scan input is sliced along its scan_input_axes entry
/// (walked backwards when its scan_input_directions entry is 1); each scan output stacks the
/// per-iteration tensors along its scan_output_axes entry (in reverse order for direction 1).
/// The batched form of Scan-8 is rewritten by the importer into this form.
/// </summary>
[OpFamily]
public static class ScanOps
{
    public static void Register(OpRegistry r) => r.Add(new ScanDefinition());

    private sealed class ScanDefinition : OpDefinition
    {
        public override string OpType => "Scan";
        public override int MaxInputs => int.MaxValue;
        public override int MaxOutputs => int.MaxValue;

        /// <summary>The layout of one Scan node: how many states and scan inputs, and each scan input's and output's axis and direction.</summary>
        private sealed record Layout(int States, int ScanInputs, long[] InputAxes, long[] InputDirections, long[] OutputAxes, long[] OutputDirections);

        private static Layout ReadLayout(Operation op, int inputCount, Func<string, KilnException> error)
        {
            long scanInputs = op.GetInt("num_scan_inputs");
            if (scanInputs < 1 || scanInputs > inputCount)
                throw error($"num_scan_inputs is {scanInputs}, the node has {inputCount} operands");
            int m = (int)scanInputs;
            long[] Attribute(string name, int count)
            {
                var values = op.GetInts(name) ?? new long[count];
                if (values.Length != count) throw error($"'{name}' has {values.Length} entries, expected {count}");
                return values;
            }
            var inputDirections = Attribute("scan_input_directions", m);
            if (inputDirections.Any(d => d is not (0 or 1))) throw error("scan_input_directions entries must be 0 or 1");
            int scanOutputs = op.Outputs.Count - (inputCount - m);
            if (scanOutputs < 0) throw error($"the node has {op.Outputs.Count} outputs, fewer than its {inputCount - m} states");
            var outputDirections = Attribute("scan_output_directions", scanOutputs);
            if (outputDirections.Any(d => d is not (0 or 1))) throw error("scan_output_directions entries must be 0 or 1");
            return new Layout(inputCount - m, m, Attribute("scan_input_axes", m), inputDirections, Attribute("scan_output_axes", scanOutputs), outputDirections);
        }

        public override void InferTypes(InferenceContext ctx)
        {
            var layout = ReadLayout(ctx.Op, ctx.InputCount, ctx.Error);
            var body = ctx.Op.GetGraph("body");
            for (int i = 0; i < ctx.InputCount; i++)
                if (!ctx.HasInput(i)) throw ctx.Error($"operand {i} is missing");

            Dim length = Dim.Unknown();
            var sliceTypes = new IrType[layout.ScanInputs];
            for (int j = 0; j < layout.ScanInputs; j++)
            {
                var input = ctx.InputTensor(layout.States + j);
                if (!input.Shape.IsRanked) { sliceTypes[j] = input; continue; }
                int axis = Axes.Normalize(layout.InputAxes[j], input.Shape.Rank, ctx.Op, "scan input axis");
                var dims = input.Shape.Dims.ToList();
                if (j == 0 || !length.IsKnown) length = dims[axis];
                else if (dims[axis].IsKnown && dims[axis] != length)
                    throw ctx.Error($"scan input {j} has {dims[axis]} steps along its scan axis, scan input 0 has {length}");
                dims.RemoveAt(axis);
                sliceTypes[j] = new TensorType(input.ElementType, new Shape(dims));
            }

            var states = Enumerable.Range(0, layout.States).Select(ctx.InputType).ToArray();
            var outputs = LoopBodies.InferToFixpoint(ctx, body, states, s => [.. s, .. sliceTypes], firstCarriedOutput: 0);
            if (outputs.Count != ctx.OutputCount)
                throw ctx.Error($"body '{body.Name}' has {outputs.Count} outputs, the node has {ctx.OutputCount}");
            for (int i = 0; i < layout.States; i++) ctx.SetOutput(i, LoopBodies.ResultType(states[i], outputs[i]));
            for (int k = 0; k < layout.OutputAxes.Length; k++)
            {
                var slice = outputs[layout.States + k];
                int axis = slice is TensorType { Shape.IsRanked: true } t
                    ? Axes.Normalize(layout.OutputAxes[k], t.Shape.Rank + 1, ctx.Op, "scan output axis") : 0;
                ctx.SetOutput(layout.States + k, LoopBodies.StackedType(ctx, slice, length, axis, $"scan output {k}"));
            }
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var layout = ReadLayout(ctx.Op, ctx.InputCount, ctx.Error);
            var body = ctx.Op.GetGraph("body");
            int scanOutputs = layout.OutputAxes.Length;
            if (body.Inputs.Count != layout.States + layout.ScanInputs || body.Outputs.Count != layout.States + scanOutputs)
                throw ctx.Error($"body '{body.Name}' takes {body.Inputs.Count} inputs and makes {body.Outputs.Count} outputs; " +
                    $"the node has {layout.States} states, {layout.ScanInputs} scan inputs and {scanOutputs} scan outputs");

            var inputs = new TensorData[layout.ScanInputs];
            var axes = new int[layout.ScanInputs];
            long length = 0;
            for (int j = 0; j < layout.ScanInputs; j++)
            {
                inputs[j] = ctx.Tensor(layout.States + j);
                axes[j] = Axes.Normalize(layout.InputAxes[j], inputs[j].Rank, ctx.Op, "scan input axis");
                long steps = inputs[j].Shape[axes[j]];
                if (j > 0 && steps != length)
                    throw ctx.Error($"scan input {j} has {steps} steps along its scan axis, scan input 0 has {length}");
                length = steps;
            }

            var states = Enumerable.Range(0, layout.States).Select(i => ctx.Input(i) ?? throw ctx.Error($"state {i} is missing")).ToArray();
            var collected = Enumerable.Range(0, scanOutputs).Select(_ => new List<TensorData>()).ToArray();
            for (long t = 0; t < length; t++)
            {
                var args = new List<DataValue>(states);
                for (int j = 0; j < layout.ScanInputs; j++)
                    args.Add(AxisBlocks.Take(inputs[j], axes[j], layout.InputDirections[j] == 1 ? length - 1 - t : t));
                var results = ctx.RunGraph(body, args);
                for (int i = 0; i < layout.States; i++) states[i] = results[i];
                for (int k = 0; k < scanOutputs; k++)
                    collected[k].Add(results[layout.States + k] as TensorData
                        ?? throw ctx.Error($"scan output {k} must be a tensor, the body produced {results[layout.States + k].Type}"));
            }

            for (int i = 0; i < layout.States; i++) ctx.SetOutput(i, states[i]);
            for (int k = 0; k < scanOutputs; k++)
            {
                string what = $"scan output {k}";
                var slices = collected[k];
                if (slices.Count == 0)
                {
                    var type = body.Outputs[layout.States + k].Type;
                    int rank = type is TensorType { Shape.IsRanked: true } tt ? tt.Shape.Rank + 1 : 1;
                    ctx.SetOutput(layout.States + k, LoopBodies.EmptyStack(ctx, type, Axes.Normalize(layout.OutputAxes[k], rank, ctx.Op, "scan output axis"), what));
                    continue;
                }
                if (layout.OutputDirections[k] == 1) slices.Reverse();
                int axis = Axes.Normalize(layout.OutputAxes[k], slices[0].Rank + 1, ctx.Op, "scan output axis");
                ctx.SetOutput(layout.States + k, AxisBlocks.Stack(slices, axis, m => ctx.Error($"{what}: {m}")));
            }
        }
    }
}
