using System.Numerics;
using System.Numerics.Tensors;
using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// The recurrent layers RNN, GRU and LSTM of opset 22. Older forms need no upgrade: opset 14 only
/// lacks bfloat16, opset 7 also lacks layout (whose default, 0, is its behaviour), and opsets 1–6
/// add output_sequence and (GRU-1) lack linear_before_reset, neither of which changes a result
/// when absent or ignored.
/// <para>
/// The three share one driver. With G gates per cell (RNN 1, GRU 3 in the order z r h, LSTM 4 in
/// the order i o f c) the operands are X [seq, batch, input], W [dirs, G·hidden, input],
/// R [dirs, G·hidden, hidden], B [dirs, 2·G·hidden] (Wb then Rb), sequence_lens [batch] (int32),
/// initial_h [dirs, batch, hidden], and for LSTM initial_c like initial_h and the peepholes
/// P [dirs, 3·hidden] (order i o f). The results are Y [seq, dirs, batch, hidden], the last hidden
/// state Y_h [dirs, batch, hidden] and for LSTM the last cell state Y_c. layout=1 makes X, Y and
/// the states batch-major: X [batch, seq, input], Y [batch, seq, dirs, hidden], states
/// [batch, dirs, hidden]; the driver transposes them to and from the sequence-major form.
/// </para>
/// <para>
/// A sequence shorter than seq (sequence_lens) runs only its own steps; a reverse direction runs
/// them backwards from its own last step, not from the padding. Y is zero past each sequence's
/// end, and the final states are those after its last step: zero for a sequence of length 0,
/// as ONNX Runtime gives.
/// </para>
/// Computed in the tensor's type (float64 in double, the narrower types in float32), like the
/// numpy definitions the conformance data comes from.
/// </summary>
[OpFamily]
public static class Recurrent
{
    public static void Register(OpRegistry r)
    {
        r.Add(new RecurrentDefinition("RNN", CellType.Rnn, 1, ["Tanh"]));
        r.Add(new RecurrentDefinition("GRU", CellType.Gru, 3, ["Sigmoid", "Tanh"]));
        r.Add(new RecurrentDefinition("LSTM", CellType.Lstm, 4, ["Sigmoid", "Tanh", "Tanh"]));
    }

    private const int X = 0, W = 1, R = 2, B = 3, SequenceLens = 4, InitialH = 5, InitialC = 6, P = 7;
    private const int Y = 0, YH = 1, YC = 2;

    private enum CellType { Rnn, Gru, Lstm }

    /// <summary>The activations the attribute 'activations' may name (compared ignoring case).</summary>
    private enum ActivationKind { Relu, Tanh, Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus }

    private sealed class RecurrentDefinition(string opType, CellType cell, int gates, string[] defaultActivations) : OpDefinition
    {
        private bool IsLstm => cell == CellType.Lstm;

        public override string OpType => opType;
        public override int MinInputs => 3;
        public override int MaxInputs => IsLstm ? 8 : 6;
        // Every result is optional: a node may keep only Y_h, or nothing at all.
        public override int MinOutputs => 0;
        public override int MaxOutputs => IsLstm ? 3 : 2;

        public override void InferTypes(InferenceContext ctx)
        {
            var s = Settings.Read(ctx.Op, cell, defaultActivations);
            Infer.ElementTypeIn(ctx, X, FloatBuffers.IsComputeType, "float, double, float16 or bfloat16");
            var et = Infer.SameElementType(ctx, X, W, R, B, InitialH, InitialC, P);
            if (ctx.HasInput(SequenceLens)) Infer.ElementTypeIn(ctx, SequenceLens, t => t == ElementType.Int32, "int32");
            InferValues.ElementTypesFirst(ctx, et, et, et);

            var (sequence, batch, hidden) = InferSizes(ctx, s);
            Dim dirs = s.Directions;
            var y = s.BatchMajor ? Shape.Of(batch, sequence, dirs, hidden) : Shape.Of(sequence, dirs, batch, hidden);
            var state = s.BatchMajor ? Shape.Of(batch, dirs, hidden) : Shape.Of(dirs, batch, hidden);
            foreach (var (output, shape) in new[] { (Y, y), (YH, state), (YC, state) })
                if (ctx.HasOutput(output)) ctx.SetOutput(output, et, shape);
        }

        /// <summary>
        /// Checks every operand's shape against the others and returns the sizes the results
        /// need. An absent or unranked operand constrains nothing; known sizes win over symbolic ones.
        /// </summary>
        private (Dim Sequence, Dim Batch, Dim Hidden) InferSizes(InferenceContext ctx, Settings s)
        {
            Dim[] DimsOf(int input, int rank, string name)
            {
                if (!ctx.HasInput(input) || !ctx.InputShape(input).IsRanked) return InferValues.UnknownDims(rank).Dims.ToArray();
                var shape = ctx.InputShape(input);
                if (shape.Rank != rank) throw ctx.Error($"{name} must have rank {rank}, got {shape}");
                return [.. shape.Dims];
            }
            Dim Agree(Dim a, Dim b, string what) => InferValues.Same(ctx, a, b, what);

            var x = DimsOf(X, 3, "X");
            var w = DimsOf(W, 3, "W");
            var r = DimsOf(R, 3, "R");
            var b = DimsOf(B, 2, "B");
            var lens = DimsOf(SequenceLens, 1, "sequence_lens");
            var h0 = DimsOf(InitialH, 3, "initial_h");
            var c0 = DimsOf(InitialC, 3, "initial_c");
            var p = DimsOf(P, 2, "P");

            // hidden_size is optional: without it the size comes from R, or from a packed gate axis.
            Dim hidden = s.HiddenSize is { } size ? size : r[2];
            foreach (var (packed, parts, name) in new[] { (w[1], gates, "W dimension 1"), (r[1], gates, "R dimension 1"), (b[1], 2 * gates, "B dimension 1"), (p[1], 3, "P dimension 1") })
                if (!hidden.IsKnown && packed.IsKnown) hidden = DimChecks.SplitEvenly(packed, parts, name, ctx.Error);

            Dim dirs = s.Directions;
            int batchAxis = s.BatchMajor ? 0 : 1, dirAxis = s.BatchMajor ? 1 : 0;
            Agree(w[0], dirs, "W dimension 0 (num_directions)");
            Agree(r[0], dirs, "R dimension 0 (num_directions)");
            Agree(b[0], dirs, "B dimension 0 (num_directions)");
            Agree(p[0], dirs, "P dimension 0 (num_directions)");
            Agree(h0[dirAxis], dirs, $"initial_h dimension {dirAxis} (num_directions)");
            Agree(c0[dirAxis], dirs, $"initial_c dimension {dirAxis} (num_directions)");

            Agree(w[1], gates * hidden, $"W dimension 1 ({gates} x hidden_size)");
            Agree(r[1], gates * hidden, $"R dimension 1 ({gates} x hidden_size)");
            hidden = Agree(hidden, r[2], "R dimension 2 (hidden_size)");
            Agree(b[1], 2 * gates * hidden, $"B dimension 1 ({2 * gates} x hidden_size)");
            Agree(p[1], 3 * hidden, "P dimension 1 (3 x hidden_size)");
            hidden = Agree(hidden, h0[2], "initial_h dimension 2 (hidden_size)");
            hidden = Agree(hidden, c0[2], "initial_c dimension 2 (hidden_size)");

            Agree(x[2], w[2], "X dimension 2 and W dimension 2 (input_size)");
            var batch = x[s.BatchMajor ? 0 : 1];
            batch = Agree(batch, lens[0], "sequence_lens length (batch_size)");
            batch = Agree(batch, h0[batchAxis], $"initial_h dimension {batchAxis} (batch_size)");
            batch = Agree(batch, c0[batchAxis], $"initial_c dimension {batchAxis} (batch_size)");
            return (x[s.BatchMajor ? 1 : 0], batch, hidden);
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var s = Settings.Read(ctx.Op, cell, defaultActivations);
            var x = ctx.Tensor(X);
            var et = x.ElementType;
            if (!FloatBuffers.IsComputeType(et)) throw ctx.Error($"X must be float, double, float16 or bfloat16, got {et.OnnxName()}");
            foreach (int i in new[] { W, R, B, InitialH, InitialC, P })
                if (ctx.OptionalTensor(i) is { } t && t.ElementType != et)
                    throw ctx.Error($"input {i} must have X's element type {et.OnnxName()}, got {t.ElementType.OnnxName()}");

            if (x.Rank != 3) throw ctx.Error($"X must have rank 3, got shape {TensorData.FormatShape(x.Shape)}");
            var r = ctx.Tensor(R);
            if (r.Rank != 3) throw ctx.Error($"R must have rank 3, got shape {TensorData.FormatShape(r.Shape)}");
            // Work sequence-major: batch-major operands are transposed in, and the results out.
            if (s.BatchMajor) x = Layout.Transpose(x, [1, 0, 2]);
            long sequence = x.Shape[0], batch = x.Shape[1], input = x.Shape[2], hidden = s.HiddenSize ?? r.Shape[2], dirs = s.Directions;

            void Expect(int i, string name, params long[] expected)
            {
                if (ctx.OptionalTensor(i) is { } t && !t.Shape.AsSpan().SequenceEqual(expected))
                    throw ctx.Error($"{name} has shape {TensorData.FormatShape(t.Shape)}, expected {TensorData.FormatShape(expected)}");
            }
            // R is checked first: once it matches, hidden_size is a real size, and every product below fits.
            Expect(R, "R", dirs, gates * hidden, hidden);
            Expect(W, "W", dirs, gates * hidden, input);
            Expect(B, "B", dirs, 2 * gates * hidden);
            Expect(P, "P", dirs, 3 * hidden);
            long[] stateShape = s.BatchMajor ? [batch, dirs, hidden] : [dirs, batch, hidden];
            Expect(InitialH, "initial_h", stateShape);
            Expect(InitialC, "initial_c", stateShape);

            TensorData? State(int i) => s.BatchMajor && ctx.OptionalTensor(i) is { } t ? Layout.Transpose(t, [1, 0, 2]) : ctx.OptionalTensor(i);
            var operands = new Operands(x, ctx.Tensor(W), r, ctx.OptionalTensor(B), State(InitialH), State(InitialC), ctx.OptionalTensor(P),
                SequenceLengths(ctx, (int)sequence, (int)batch));
            var size = new Sizes((int)sequence, (int)batch, (int)input, (int)hidden, (int)dirs, gates);
            var (y, yh, yc) = FloatCompute.UsesDouble(et) ? Compute<double>(s, size, operands, et) : Compute<float>(s, size, operands, et);

            TensorData Result(TensorData data, int[] toBatchMajor) => s.BatchMajor ? Layout.Transpose(data, toBatchMajor) : data;
            if (ctx.HasOutput(Y)) ctx.SetOutput(Y, Result(y, [2, 0, 1, 3]));
            if (ctx.HasOutput(YH)) ctx.SetOutput(YH, Result(yh, [1, 0, 2]));
            if (IsLstm && ctx.HasOutput(YC)) ctx.SetOutput(YC, Result(yc, [1, 0, 2]));
        }

        /// <summary>sequence_lens as ints (every sequence full when absent), each checked to lie in [0, seq].</summary>
        private static int[] SequenceLengths(EvaluationContext ctx, int sequence, int batch)
        {
            if (ctx.OptionalTensor(SequenceLens) is not { } t) return Enumerable.Repeat(sequence, batch).ToArray();
            if (t.ElementType != ElementType.Int32) throw ctx.Error($"sequence_lens must be int32, got {t.ElementType.OnnxName()}");
            if (t.Rank != 1 || t.Shape[0] != batch)
                throw ctx.Error($"sequence_lens has shape {TensorData.FormatShape(t.Shape)}, expected [{batch}]");
            var lengths = t.Data<int>();
            foreach (int length in lengths)
                if (length < 0 || length > sequence)
                    throw ctx.Error($"sequence_lens holds {length}, outside [0, {sequence}] (seq_length)");
            return lengths;
        }
    }

    private readonly record struct Sizes(int Sequence, int Batch, int Input, int Hidden, int Directions, int Gates);

    /// <summary>The operands, sequence-major, with optional ones null.</summary>
    private sealed record Operands(TensorData X, TensorData W, TensorData R, TensorData? B, TensorData? InitialH, TensorData? InitialC,
        TensorData? P, int[] Lengths);

    /// <summary>Runs every direction over every sequence of the batch: Y, Y_h and Y_c, sequence-major, rounded to <paramref name="type"/>.</summary>
    private static (TensorData Y, TensorData YH, TensorData YC) Compute<T>(Settings s, Sizes size, Operands o, ElementType type)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[]? Widen(TensorData? t) => t is null ? null : FloatCompute.Widen<T>(t);
        var (x, w, r, b, h0, c0, p) = (Widen(o.X)!, Widen(o.W)!, Widen(o.R)!, Widen(o.B), Widen(o.InitialH), Widen(o.InitialC), Widen(o.P));
        int hidden = size.Hidden, gh = size.Gates * hidden, rows = size.Sequence * size.Batch;
        long[] yShape = [size.Sequence, size.Directions, size.Batch, hidden];
        var y = HostBuffers.Allocate<T>(yShape);
        long[] stateShape = [size.Directions, size.Batch, hidden];
        var yh = HostBuffers.Allocate<T>(stateShape);
        var yc = HostBuffers.Allocate<T>(stateShape);
        h0?.CopyTo(yh, 0);
        c0?.CopyTo(yc, 0);
        var gateValues = new T[gh];

        for (int d = 0; d < size.Directions; d++)
        {
            // The input part of every gate, for all steps at once: X·Wᵀ + Wb, one row of G·hidden per (t, batch).
            var weights = w.AsMemory(d * gh * size.Input, gh * size.Input);
            var inputBias = b is null ? ReadOnlyMemory<T>.Empty : b.AsMemory(d * 2 * gh, gh);
            var projected = HostBuffers.Allocate<T>([rows, gh]);
            for (int i = 0; i < rows; i++)
                AddProducts(x.AsSpan(i * size.Input, size.Input), weights.Span, inputBias.Span, projected.AsSpan(i * gh, gh));

            var step = new CellStep<T>(s, hidden, r.AsMemory(d * gh * hidden, gh * hidden),
                b is null ? ReadOnlyMemory<T>.Empty : b.AsMemory(d * 2 * gh + gh, gh),
                p is null ? ReadOnlyMemory<T>.Empty : p.AsMemory(d * 3 * hidden, 3 * hidden),
                s.Activations[d]);
            bool reversed = s.IsReversed(d);
            for (int n = 0; n < size.Batch; n++)
            {
                // The state lives in the final-state results and is updated in place, step by step.
                var h = yh.AsSpan((d * size.Batch + n) * hidden, hidden);
                var c = yc.AsSpan((d * size.Batch + n) * hidden, hidden);
                int length = o.Lengths[n];
                for (int k = 0; k < length; k++)
                {
                    int t = reversed ? length - 1 - k : k;
                    projected.AsSpan((t * size.Batch + n) * gh, gh).CopyTo(gateValues);
                    step.Advance(gateValues, h, c);
                    h.CopyTo(y.AsSpan(((t * size.Directions + d) * size.Batch + n) * hidden, hidden));
                }
                if (length == 0) { h.Clear(); c.Clear(); }
            }
        }
        return (FloatCompute.Narrow(y, yShape, type), FloatCompute.Narrow(yh, stateShape, type), FloatCompute.Narrow(yc, stateShape, type));
    }

    /// <summary>dst[j] += v · m[j, :] + bias[j] for each row j of the row-major matrix m (v times mᵀ); bias may be empty.</summary>
    private static void AddProducts<T>(ReadOnlySpan<T> v, ReadOnlySpan<T> m, ReadOnlySpan<T> bias, Span<T> dst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int k = v.Length;
        for (int j = 0; j < dst.Length; j++)
        {
            dst[j] += TensorPrimitives.Dot(m.Slice(j * k, k), v);
            if (!bias.IsEmpty) dst[j] += bias[j];
        }
    }

    /// <summary>
    /// One direction's cell: its recurrent weights R [G·hidden, hidden], recurrent bias Rb, peepholes
    /// (LSTM) and activations. <see cref="Advance"/> takes the input part of the gates (X·Wᵀ + Wb for
    /// one step of one sequence) and moves the state h (and c) one step on.
    /// Clip bounds the input of the gate activations f and g. The spec's "applied to the input of
    /// activations" could also cover the LSTM's h(Ct); ONNX Runtime does not clip Ct there, and
    /// neither does this, so models keep their results.
    /// </summary>
    private sealed class CellStep<T>(Settings s, int hidden, ReadOnlyMemory<T> recurrence, ReadOnlyMemory<T> recurrenceBias,
        ReadOnlyMemory<T> peepholes, Activation[] activations) where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly T[] _scratch = new T[hidden];
        private readonly T? _clip = s.Clip is { } clip ? T.CreateTruncating(clip) : null;

        public void Advance(Span<T> gates, Span<T> h, Span<T> c)
        {
            switch (s.Cell)
            {
                case CellType.Rnn: Rnn(gates, h); break;
                case CellType.Gru: Gru(gates, h); break;
                default: Lstm(gates, h, c); break;
            }
        }

        /// <summary>The hidden-sized block of gate g.</summary>
        private Span<T> Gate(Span<T> gates, int g) => gates.Slice(g * hidden, hidden);

        /// <summary>Adds state·Rᵀ + Rb to the gates from <paramref name="firstGate"/> on (as many as the span holds).</summary>
        private void AddRecurrence(Span<T> gates, ReadOnlySpan<T> state, int firstGate)
        {
            int from = firstGate * hidden, count = gates.Length;
            AddProducts(state, recurrence.Span.Slice(from * hidden, count * hidden),
                recurrenceBias.IsEmpty ? [] : recurrenceBias.Span.Slice(from, count), gates);
        }

        /// <summary>Activation <paramref name="index"/> (f, g, h in the spec's order) on its clipped input, in place.</summary>
        private void Activate(Span<T> values, int index, bool clip = true)
        {
            if (clip && _clip is { } bound)
                for (int i = 0; i < values.Length; i++) values[i] = T.Clamp(values[i], -bound, bound);
            activations[index].Apply(values);
        }

        /// <summary>Ht = f(Xt·Wᵀ + Ht-1·Rᵀ + Wb + Rb).</summary>
        private void Rnn(Span<T> gates, Span<T> h)
        {
            AddRecurrence(gates, h, 0);
            Activate(gates, 0);
            gates.CopyTo(h);
        }

        /// <summary>
        /// zt = f(.. z ..), rt = f(.. r ..); the candidate ht = g(Xt·Whᵀ + (rt ⊙ Ht-1)·Rhᵀ + Rbh + Wbh), or with
        /// linear_before_reset g(Xt·Whᵀ + rt ⊙ (Ht-1·Rhᵀ + Rbh) + Wbh); Ht = (1 − zt) ⊙ ht + zt ⊙ Ht-1.
        /// </summary>
        private void Gru(Span<T> gates, Span<T> h)
        {
            AddRecurrence(gates[..(2 * hidden)], h, 0);
            Activate(gates[..(2 * hidden)], 0);
            Span<T> z = Gate(gates, 0), reset = Gate(gates, 1), candidate = Gate(gates, 2), scratch = _scratch;
            if (s.LinearBeforeReset)
            {
                scratch.Clear();
                AddRecurrence(scratch, h, 2);
                for (int i = 0; i < hidden; i++) candidate[i] += reset[i] * scratch[i];
            }
            else
            {
                for (int i = 0; i < hidden; i++) scratch[i] = reset[i] * h[i];
                AddRecurrence(candidate, scratch, 2);
            }
            Activate(candidate, 1);
            for (int i = 0; i < hidden; i++) h[i] = (T.One - z[i]) * candidate[i] + z[i] * h[i];
        }

        /// <summary>
        /// it = f(.. + Pi ⊙ Ct-1), ft = f(.. + Pf ⊙ Ct-1) (or 1 − it with input_forget), ct = g(..),
        /// Ct = ft ⊙ Ct-1 + it ⊙ ct, ot = f(.. + Po ⊙ Ct), Ht = ot ⊙ h(Ct).
        /// </summary>
        private void Lstm(Span<T> gates, Span<T> h, Span<T> c)
        {
            AddRecurrence(gates, h, 0);
            Span<T> input = Gate(gates, 0), output = Gate(gates, 1), forget = Gate(gates, 2), cell = Gate(gates, 3);
            Peephole(input, 0, c);
            Activate(input, 0);
            if (s.InputForget)
                for (int i = 0; i < hidden; i++) forget[i] = T.One - input[i];
            else
            {
                Peephole(forget, 2, c);
                Activate(forget, 0);
            }
            Activate(cell, 1);
            for (int i = 0; i < hidden; i++) c[i] = forget[i] * c[i] + input[i] * cell[i];
            Peephole(output, 1, c);
            Activate(output, 0);
            Span<T> scratch = _scratch;
            c.CopyTo(scratch);
            Activate(scratch, 2, clip: false);
            for (int i = 0; i < hidden; i++) h[i] = output[i] * scratch[i];
        }

        /// <summary>gate += P[block] ⊙ state, when the LSTM has peepholes (stored in the order i, o, f).</summary>
        private void Peephole(Span<T> gate, int block, ReadOnlySpan<T> state)
        {
            if (peepholes.IsEmpty) return;
            var weights = peepholes.Span.Slice(block * hidden, hidden);
            for (int i = 0; i < hidden; i++) gate[i] += weights[i] * state[i];
        }
    }

    /// <summary>The attributes of a recurrent node, checked.</summary>
    private sealed record Settings(CellType Cell, bool Bidirectional, bool Reverse, long? HiddenSize, bool BatchMajor, float? Clip,
        Activation[][] Activations, bool LinearBeforeReset, bool InputForget)
    {
        public int Directions => Bidirectional ? 2 : 1;

        /// <summary>Whether direction d runs from the end: 'reverse', or the second half of 'bidirectional'.</summary>
        public bool IsReversed(int d) => Reverse || d == 1;

        public static Settings Read(Operation op, CellType cell, string[] defaultActivations)
        {
            KilnException Error(string message) => new(ErrorCode.InvalidModel, $"{op.Describe()}: {message}");

            string direction = op.GetString("direction", "forward");
            if (direction is not ("forward" or "reverse" or "bidirectional"))
                throw Error($"direction must be forward, reverse or bidirectional, got '{direction}'");
            bool bidirectional = direction == "bidirectional";
            long layout = op.GetInt("layout", 0);
            if (layout is not (0 or 1)) throw Error($"layout must be 0 or 1, got {layout}");
            long? hiddenSize = op.HasAttribute("hidden_size") ? op.GetInt("hidden_size") : null;
            if (hiddenSize <= 0) throw Error($"hidden_size must be positive, got {hiddenSize}");
            float? clip = op.HasAttribute("clip") ? op.GetFloat("clip") : null;
            if (clip is { } bound && !(bound > 0)) throw Error($"clip must be positive, got {bound}");

            var activations = ReadActivations(op, defaultActivations, bidirectional ? 2 : 1, Error);
            return new Settings(cell, bidirectional, direction == "reverse", hiddenSize, layout == 1, clip, activations,
                cell == CellType.Gru && op.GetInt("linear_before_reset", 0) != 0,
                cell == CellType.Lstm && op.GetInt("input_forget", 0) != 0);
        }

        /// <summary>
        /// The activations per direction. The attribute lists the cell's functions (f; f g; f g h)
        /// for each direction in turn; one list for a bidirectional layer serves both directions.
        /// activation_alpha and activation_beta are consumed in that order by the functions that take
        /// the parameter (as ONNX Runtime reads them); a function finding none left uses its default.
        /// </summary>
        private static Activation[][] ReadActivations(Operation op, string[] defaults, int directions, Func<string, KilnException> error)
        {
            int perDirection = defaults.Length;
            var names = op.GetStrings("activations") ?? [.. Enumerable.Repeat(defaults, directions).SelectMany(a => a)];
            if (names.Length != perDirection * directions && names.Length != perDirection)
                throw error($"activations lists {names.Length} functions, expected {perDirection * directions} ({perDirection} per direction)");
            var alphas = new Queue<float>(op.GetFloats("activation_alpha") ?? []);
            var betas = new Queue<float>(op.GetFloats("activation_beta") ?? []);
            var all = names.Select(name => Activation.Create(name, alphas, betas, error)).ToArray();
            return Enumerable.Range(0, directions)
                .Select(d => all.Length == perDirection ? all : all[(d * perDirection)..((d + 1) * perDirection)])
                .ToArray();
        }
    }

    /// <summary>An activation of a recurrent cell with its parameters.</summary>
    private readonly record struct Activation(ActivationKind Kind, float Alpha, float Beta)
    {
        /// <summary>
        /// The named activation, taking alpha and beta from the queues when it has such parameters.
        /// Defaults are those of the ONNX operators of the same name (Affine: 1, 0; ScaledTanh: 1, 1).
        /// </summary>
        public static Activation Create(string name, Queue<float> alphas, Queue<float> betas, Func<string, KilnException> error)
        {
            var kind = Enum.GetValues<ActivationKind>().Cast<ActivationKind?>()
                .FirstOrDefault(k => string.Equals(k.ToString(), name, StringComparison.OrdinalIgnoreCase))
                ?? throw error($"unknown activation '{name}' (expected one of {string.Join(", ", Enum.GetNames<ActivationKind>())})");
            var (alpha, beta) = kind switch
            {
                ActivationKind.Affine => ((float?)1f, (float?)0f),
                ActivationKind.LeakyRelu => (0.01f, null),
                ActivationKind.ThresholdedRelu => (1f, null),
                ActivationKind.ScaledTanh => (1f, 1f),
                ActivationKind.HardSigmoid => (0.2f, 0.5f),
                ActivationKind.Elu => (1f, null),
                _ => (null, null),
            };
            float Take(Queue<float> values, float? fallback) =>
                fallback is { } f ? (values.TryDequeue(out float v) ? v : f) : 0f;
            return new Activation(kind, Take(alphas, alpha), Take(betas, beta));
        }

        /// <summary>Applies the function to every value in place.</summary>
        public void Apply<T>(Span<T> values) where T : unmanaged, IFloatingPointIeee754<T>
        {
            switch (Kind)
            {
                case ActivationKind.Relu: Map(values, new Numeric<Activations.ReluOp>()); break;
                case ActivationKind.Tanh: Map(values, new Float<FloatMath.TanhOp>()); break;
                case ActivationKind.Sigmoid: Map(values, new Float<SmoothActivations.SigmoidOp>()); break;
                case ActivationKind.Affine: Map(values, new AffineFunction(Alpha, Beta)); break;
                case ActivationKind.LeakyRelu: Map(values, new Activations.LeakyRelu(Alpha)); break;
                case ActivationKind.ThresholdedRelu: Map(values, new Activations.ThresholdedRelu(Alpha)); break;
                case ActivationKind.ScaledTanh: Map(values, new ScaledTanhFunction(Alpha, Beta)); break;
                case ActivationKind.HardSigmoid: Map(values, new Activations.HardSigmoid(Alpha, Beta)); break;
                case ActivationKind.Elu: Map(values, new Activations.Elu(Alpha)); break;
                case ActivationKind.Softsign: Map(values, new Float<SmoothActivations.SoftsignOp>()); break;
                case ActivationKind.Softplus: Map(values, new Float<SmoothActivations.SoftplusOp>()); break;
                default: throw new InvalidOperationException($"activation {Kind} has no implementation");
            }
        }

        private static void Map<T, TF>(Span<T> values, TF f) where T : unmanaged, IFloatingPointIeee754<T> where TF : struct, IFloatFunction
        {
            for (int i = 0; i < values.Length; i++) values[i] = f.Invoke(values[i]);
        }
    }

    // Adapters that let the elementwise operators' functions serve as activations.
    private readonly struct Float<TOp> : IFloatFunction where TOp : IFloatUnaryOperator
    {
        public T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => TOp.Invoke(x);
    }

    private readonly struct Numeric<TOp> : IFloatFunction where TOp : INumericUnaryOperator
    {
        public T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => TOp.Invoke(x);
    }

    /// <summary>alpha·x + beta.</summary>
    private readonly struct AffineFunction(float alpha, float beta) : IFloatFunction
    {
        public T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.CreateTruncating(alpha) * x + T.CreateTruncating(beta);
    }

    /// <summary>alpha·tanh(beta·x).</summary>
    private readonly struct ScaledTanhFunction(float alpha, float beta) : IFloatFunction
    {
        public T Invoke<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => T.CreateTruncating(alpha) * T.Tanh(T.CreateTruncating(beta) * x);
    }
}
