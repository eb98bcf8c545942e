using Kiln.Ir;

namespace Kiln.Compiler.Passes.Decompositions;

/// <summary>
/// RNN, GRU and LSTM as one Scan per direction. The input part of every gate (X·Wᵀ + Wb + Rb) is
/// one MatMul over all steps before the Scan; the body adds the recurrent part (h·Rᵀ) and does the
/// gate math of the cell with elementwise operators. Gates are packed as in ONNX: RNN [i],
/// GRU [z r h], LSTM [i o f c], peepholes [i o f].
/// <para>
/// The Scan runs over the sequence axis of X as given (axis 0, or 1 with layout = 1), so no
/// transposes are needed; a reverse direction scans (and writes Y) backwards. sequence_lens
/// becomes a per-step mask [batch, 1]: a masked step keeps the state and writes zeros to Y. A
/// reverse scan meets a sequence's padding first, where the mask keeps the initial state, so each
/// sequence still starts at its own last step. A sequence of length 0 ends with zero states, as in
/// the reference. float16 and bfloat16 are computed in float32, like the reference.
/// </para>
/// </summary>
public static class RecurrentDecomposition
{
    private const int X = 0, W = 1, R = 2, B = 3, SequenceLens = 4, InitialH = 5, InitialC = 6, P = 7;

    private enum Cell { Rnn, Gru, Lstm }

    public static Value?[] Rnn(DecompositionBuilder b, Operation op) => new Recurrence(b, op, Cell.Rnn).Build();
    public static Value?[] Gru(DecompositionBuilder b, Operation op) => new Recurrence(b, op, Cell.Gru).Build();
    public static Value?[] Lstm(DecompositionBuilder b, Operation op) => new Recurrence(b, op, Cell.Lstm).Build();

    /// <summary>An activation function of the cell, with its alpha and beta where it takes them.</summary>
    private readonly record struct Activation(string Name, float Alpha, float Beta);

    /// <summary>One decomposition in progress: the node's settings and the values shared by its directions.</summary>
    private sealed class Recurrence
    {
        private readonly DecompositionBuilder _b;
        private readonly Operation _op;
        private readonly Cell _cell;
        private readonly int _gates;
        private readonly ElementType _type, _compute;
        private readonly bool _batchMajor, _bidirectional, _reverse, _linearBeforeReset, _inputForget;
        private readonly long _hidden;
        private readonly float? _clip;
        private readonly Activation[][] _activations;

        public Recurrence(DecompositionBuilder b, Operation op, Cell cell)
        {
            _b = b;
            _op = op;
            _cell = cell;
            _gates = cell switch { Cell.Rnn => 1, Cell.Gru => 3, _ => 4 };
            _type = op.Input(X).TensorType.ElementType;
            _compute = _type is ElementType.Float16 or ElementType.BFloat16 ? ElementType.Float32 : _type;
            string direction = op.GetString("direction", "forward");
            if (direction is not ("forward" or "reverse" or "bidirectional")) throw Unsupported($"direction \"{direction}\"");
            _bidirectional = direction == "bidirectional";
            _reverse = direction == "reverse";
            _batchMajor = op.GetInt("layout", 0) == 1;
            var r = op.Input(R).TensorType.Shape;
            _hidden = op.HasAttribute("hidden_size") ? op.GetInt("hidden_size")
                : r.IsRanked && r.Rank == 3 && r[2].IsKnown ? r[2].Value
                : throw Unsupported($"needs hidden_size or a static R, got R {r}");
            _clip = op.HasAttribute("clip") ? op.GetFloat("clip") : null;
            _linearBeforeReset = cell == Cell.Gru && op.GetInt("linear_before_reset", 0) != 0;
            _inputForget = cell == Cell.Lstm && op.GetInt("input_forget", 0) != 0;
            _activations = ReadActivations(cell switch
            {
                Cell.Rnn => ["Tanh"],
                Cell.Gru => ["Sigmoid", "Tanh"],
                _ => ["Sigmoid", "Tanh", "Tanh"],
            });
        }

        private int Directions => _bidirectional ? 2 : 1;
        private int SequenceAxis => _batchMajor ? 1 : 0;
        private int BatchAxis => _batchMajor ? 0 : 1;

        public Value?[] Build()
        {
            var x = Widen(_op.Input(X));
            var lengths = _op.OptionalInput(SequenceLens);
            var mask = lengths is null ? null : StepMask(x, lengths);

            var ys = new List<Value>();
            var hs = new List<Value>();
            var cs = new List<Value>();
            for (int d = 0; d < Directions; d++)
            {
                var (y, h, c) = Direction(d, x, mask);
                if (lengths is not null)
                {
                    // A sequence of length 0 has zero final states.
                    var started = _b.Add("Unsqueeze", [_b.Add("Greater", [lengths, _b.Scalar(ElementType.Int32, 0)]), _b.Int64s(1)]);
                    var zero = _b.Scalar(_compute, 0);
                    h = _b.Add("Where", [started, h, zero]);
                    if (c is not null) c = _b.Add("Where", [started, c, zero]);
                }
                if (y is not null) ys.Add(_b.Add("Unsqueeze", [y, _b.Int64s(_batchMajor ? 2 : 1)]));
                hs.Add(_b.Add("Unsqueeze", [h, _b.Int64s(_batchMajor ? 1 : 0)]));
                if (c is not null) cs.Add(_b.Add("Unsqueeze", [c, _b.Int64s(_batchMajor ? 1 : 0)]));
            }

            Value? Result(int index, List<Value> parts, long axis) =>
                !_op.HasOutput(index) ? null : Narrow(parts.Count == 1 ? parts[0] : _b.Add("Concat", [.. parts], Axis(axis)));
            var results = new List<Value?>
            {
                Result(0, ys, _batchMajor ? 2 : 1),
                Result(1, hs, _batchMajor ? 1 : 0),
            };
            if (_cell == Cell.Lstm) results.Add(Result(2, cs, _batchMajor ? 1 : 0));
            return [.. results.Take(_op.Outputs.Count)];
        }

        /// <summary>
        /// One direction: its weights, the projected input, and the Scan. Returns Y of the
        /// direction ([seq, batch, hidden], or [batch, seq, hidden] batch-major; null when Y is
        /// not wanted) and the final h and c [batch, hidden].
        /// </summary>
        private (Value? Y, Value H, Value? C) Direction(int d, Value x, Value? mask)
        {
            long gh = _gates * _hidden;
            var index = _b.Constant(TensorData.Scalar(ElementType.Int64, (long)d));
            Value Pick(int input, long axis = 0) => _b.Add("Gather", [Widen(_op.Input(input)), index], Axis(axis));
            Value Part(Value v, long start, long end) => _b.Add("Slice", [v, _b.Int64s(start), _b.Int64s(end), _b.Int64s(0)]);
            Value Transposed(Value m) => _b.Add("Transpose", [m], DecompositionBuilder.Attrs(("perm", AttributeValue.Ints(1, 0))));

            // The input part of all gates for all steps: X·Wᵀ + Wb + Rb (the GRU's Rbh stays in the body with linear_before_reset).
            var w = Pick(W);
            var projected = _b.Add("MatMul", [x, Transposed(w)]);
            Value? recurrentHiddenBias = null;
            if (_op.OptionalInput(B) is not null)
            {
                var bias = Pick(B);
                Value inputBias = Part(bias, 0, gh), recurrentBias = Part(bias, gh, 2 * gh);
                Value total;
                if (_linearBeforeReset)
                {
                    total = _b.Add("Concat", [_b.Add("Add", [Part(inputBias, 0, 2 * _hidden), Part(recurrentBias, 0, 2 * _hidden)]),
                        Part(inputBias, 2 * _hidden, gh)], Axis(0));
                    recurrentHiddenBias = Part(recurrentBias, 2 * _hidden, gh);
                }
                else total = _b.Add("Add", [inputBias, recurrentBias]);
                projected = _b.Add("Add", [projected, total]);
            }

            var r = Pick(R);
            Value recurrence;
            Value? hiddenRecurrence = null;
            if (_cell == Cell.Gru)
            {
                recurrence = Transposed(Part(r, 0, 2 * _hidden));
                hiddenRecurrence = Transposed(Part(r, 2 * _hidden, gh));
            }
            else recurrence = Transposed(r);
            Value? peepholes = _op.OptionalInput(P) is not null ? Pick(P) : null;

            Value InitialState(int input)
            {
                if (_op.OptionalInput(input) is not null) return Pick(input, _batchMajor ? 1 : 0);
                var batch = _b.Add("Shape", [x], DecompositionBuilder.Attrs(("start", AttributeValue.Int(BatchAxis)), ("end", AttributeValue.Int(BatchAxis + 1))));
                var shape = _b.Add("Concat", [batch, _b.Int64s(_hidden)], Axis(0));
                return _b.Add("ConstantOfShape", [shape], DecompositionBuilder.Attrs(("value", AttributeValue.Tensor(TensorData.Zeros(_compute, 1)))));
            }
            bool lstm = _cell == Cell.Lstm;
            var states = new List<Value> { InitialState(InitialH) };
            if (lstm) states.Add(InitialState(InitialC));

            // The body: states h (and c), then scan inputs: the step's projected gates, and its mask.
            var body = new BodyBuilder(_b, _op.OpType.ToLowerInvariant() + "_step");
            var h = body.Input("h", _compute);
            var c = lstm ? body.Input("c", _compute) : null;
            var gates = body.Input("gates", _compute);
            var stepMask = mask is null ? null : body.Input("mask", ElementType.Bool);
            var acts = _activations[d];
            var (hNext, cNext) = _cell switch
            {
                Cell.Rnn => (Activate(body, body.Add("Add", [gates, body.Add("MatMul", [h, recurrence])]), acts[0]), null),
                Cell.Gru => (GruStep(body, h, gates, recurrence, hiddenRecurrence!, recurrentHiddenBias, acts), null),
                _ => LstmStep(body, h, c!, gates, recurrence, peepholes, acts),
            };
            if (stepMask is not null)
            {
                var y = body.Add("Where", [stepMask, hNext, body.Constant(ScalarOf(0))]);
                hNext = body.Add("Where", [stepMask, hNext, h]);
                if (cNext is not null) cNext = body.Add("Where", [stepMask, cNext, c]);
                body.Output(hNext);
                if (cNext is not null) body.Output(cNext);
                if (_op.HasOutput(0)) body.Output(y);
            }
            else
            {
                body.Output(hNext);
                if (cNext is not null) body.Output(cNext);
                if (_op.HasOutput(0)) body.Output(body.Add("Identity", [hNext]));
            }

            var scanned = new List<Value> { projected };
            if (mask is not null) scanned.Add(mask);
            long direction = _reverse || d == 1 ? 1 : 0;
            int scanOutputs = _op.HasOutput(0) ? 1 : 0;
            var attrs = DecompositionBuilder.Attrs(
                ("body", AttributeValue.Graph(body.Graph)),
                ("num_scan_inputs", AttributeValue.Int(scanned.Count)),
                ("scan_input_axes", AttributeValue.Ints(Enumerable.Repeat((long)SequenceAxis, scanned.Count).ToArray())),
                ("scan_input_directions", AttributeValue.Ints(Enumerable.Repeat(direction, scanned.Count).ToArray())));
            if (scanOutputs > 0)
            {
                attrs["scan_output_axes"] = AttributeValue.Ints(SequenceAxis);
                attrs["scan_output_directions"] = AttributeValue.Ints(direction);
            }
            var results = _b.AddMany("Scan", [.. states, .. scanned], states.Count + scanOutputs, attrs);
            return (scanOutputs > 0 ? results[^1] : null, results[0], lstm ? results[1] : null);
        }

        /// <summary>
        /// z, r = f(gates_zr + h·Rzrᵀ); the candidate g(gates_h + (r ⊙ h)·Rhᵀ), or with
        /// linear_before_reset g(gates_h + r ⊙ (h·Rhᵀ + Rbh)); h' = z ⊙ (h − cand) + cand.
        /// </summary>
        private Value GruStep(BodyBuilder body, Value h, Value gates, Value recurrence, Value hiddenRecurrence, Value? hiddenBias, Activation[] acts)
        {
            var zr = Activate(body, body.Add("Add", [GateSlice(body, gates, 0, 2), body.Add("MatMul", [h, recurrence])]), acts[0]);
            Value z = GateSlice(body, zr, 0, 1), reset = GateSlice(body, zr, 1, 2);
            Value recalled;
            if (_linearBeforeReset)
            {
                recalled = body.Add("MatMul", [h, hiddenRecurrence]);
                if (hiddenBias is not null) recalled = body.Add("Add", [recalled, hiddenBias]);
                recalled = body.Add("Mul", [reset, recalled]);
            }
            else recalled = body.Add("MatMul", [body.Add("Mul", [reset, h]), hiddenRecurrence]);
            var candidate = Activate(body, body.Add("Add", [GateSlice(body, gates, 2, 3), recalled]), acts[1]);
            return body.Add("Add", [body.Add("Mul", [z, body.Add("Sub", [h, candidate])]), candidate]);
        }

        /// <summary>
        /// i = f(.. + Pi ⊙ c), f = f(.. + Pf ⊙ c) (or 1 − i with input_forget), g = g(..),
        /// c' = f ⊙ c + i ⊙ g, o = f(.. + Po ⊙ c'), h' = o ⊙ h(c') (h is not clipped).
        /// </summary>
        private (Value H, Value? C) LstmStep(BodyBuilder body, Value h, Value c, Value gates, Value recurrence, Value? peepholes, Activation[] acts)
        {
            var all = body.Add("Add", [gates, body.Add("MatMul", [h, recurrence])]);
            Value Peephole(Value gate, int block, Value state) => peepholes is null ? gate
                : body.Add("Add", [gate, body.Add("Mul", [GateSlice(body, peepholes, block, block + 1), state])]);
            var input = Activate(body, Peephole(GateSlice(body, all, 0, 1), 0, c), acts[0]);
            var forget = _inputForget
                ? body.Add("Sub", [body.Constant(ScalarOf(1)), input])
                : Activate(body, Peephole(GateSlice(body, all, 2, 3), 2, c), acts[0]);
            var candidate = Activate(body, GateSlice(body, all, 3, 4), acts[1]);
            var cNext = body.Add("Add", [body.Add("Mul", [forget, c]), body.Add("Mul", [input, candidate])]);
            var output = Activate(body, Peephole(GateSlice(body, all, 1, 2), 1, cNext), acts[0]);
            return (body.Add("Mul", [output, Activate(body, cNext, acts[2], clip: false)]), cNext);
        }

        /// <summary>Gates <paramref name="from"/> to <paramref name="to"/> (in hidden-sized blocks) of the last axis.</summary>
        private Value GateSlice(BodyBuilder body, Value v, int from, int to) =>
            body.Add("Slice", [v, body.Int64s(from * _hidden), body.Int64s(to * _hidden), body.Int64s(-1)]);

        /// <summary>The activation on its input, clipped to [-clip, clip] when the node has clip.</summary>
        private Value Activate(BodyBuilder body, Value x, Activation f, bool clip = true)
        {
            if (clip && _clip is { } bound) x = body.Add("Clip", [x, body.Constant(ScalarOf(-bound)), body.Constant(ScalarOf(bound))]);
            Dictionary<string, AttributeValue> Alpha() => DecompositionBuilder.Attrs(("alpha", AttributeValue.Float(f.Alpha)));
            return f.Name switch
            {
                "relu" => body.Add("Relu", [x]),
                "tanh" => body.Add("Tanh", [x]),
                "sigmoid" => body.Add("Sigmoid", [x]),
                "softsign" => body.Add("Softsign", [x]),
                "softplus" => body.Add("Softplus", [x]),
                "leakyrelu" => body.Add("LeakyRelu", [x], Alpha()),
                "thresholdedrelu" => body.Add("ThresholdedRelu", [x], Alpha()),
                "elu" => body.Add("Elu", [x], Alpha()),
                "hardsigmoid" => body.Add("HardSigmoid", [x],
                    DecompositionBuilder.Attrs(("alpha", AttributeValue.Float(f.Alpha)), ("beta", AttributeValue.Float(f.Beta)))),
                "affine" => body.Add("Add", [body.Add("Mul", [x, body.Constant(ScalarOf(f.Alpha))]), body.Constant(ScalarOf(f.Beta))]),
                "scaledtanh" => body.Add("Mul", [body.Add("Tanh", [body.Add("Mul", [x, body.Constant(ScalarOf(f.Beta))])]), body.Constant(ScalarOf(f.Alpha))]),
                _ => throw Unsupported($"activation \"{f.Name}\""),
            };
        }

        /// <summary>
        /// The step mask [seq, batch, 1] (or [batch, seq, 1] batch-major): true where the step
        /// lies within its sequence (step &lt; sequence_lens[n]).
        /// </summary>
        private Value StepMask(Value x, Value lengths)
        {
            // The step numbers 0 .. seq-1 as a running sum of ones: unlike Range, this compiles
            // when seq is symbolic (and folds to a constant when it is not).
            var length = _b.Add("Shape", [x], DecompositionBuilder.Attrs(
                ("start", AttributeValue.Int(SequenceAxis)), ("end", AttributeValue.Int(SequenceAxis + 1))));
            var ones = _b.Add("ConstantOfShape", [length],
                DecompositionBuilder.Attrs(("value", AttributeValue.Tensor(TensorData.Create(ElementType.Int64, [1], new[] { 1L })))));
            var steps = _b.Add("CumSum", [ones, _b.Constant(TensorData.Scalar(ElementType.Int64, 0L))],
                DecompositionBuilder.Attrs(("exclusive", AttributeValue.Int(1))));
            var limits = _b.Add("Cast", [lengths], DecompositionBuilder.Attrs(("to", AttributeValue.Int((long)ElementType.Int64))));
            // Steps along the sequence axis against lengths along the batch axis.
            var within = _batchMajor
                ? _b.Add("Less", [steps, _b.Add("Unsqueeze", [limits, _b.Int64s(1)])])
                : _b.Add("Less", [_b.Add("Unsqueeze", [steps, _b.Int64s(1)]), limits]);
            return _b.Add("Unsqueeze", [within, _b.Int64s(2)]);
        }

        /// <summary>
        /// The activations per direction: the attribute lists f (g (h)) for each direction, or one
        /// list for both; alpha and beta are taken in order by the functions that have them, a
        /// function finding none left using its default (as the reference evaluator reads them).
        /// </summary>
        private Activation[][] ReadActivations(string[] defaults)
        {
            int per = defaults.Length;
            var names = _op.GetStrings("activations") ?? [.. Enumerable.Repeat(defaults, Directions).SelectMany(a => a)];
            if (names.Length != per * Directions && names.Length != per)
                throw Unsupported($"activations lists {names.Length} functions, expected {per * Directions}");
            var alphas = new Queue<float>(_op.GetFloats("activation_alpha") ?? []);
            var betas = new Queue<float>(_op.GetFloats("activation_beta") ?? []);
            float Take(Queue<float> values, float? fallback) => fallback is { } f ? (values.TryDequeue(out float v) ? v : f) : 0f;
            var all = names.Select(name =>
            {
                string n = name.ToLowerInvariant();
                var (alpha, beta) = n switch
                {
                    "affine" => ((float?)1f, (float?)0f),
                    "leakyrelu" => (0.01f, null),
                    "thresholdedrelu" => (1f, null),
                    "scaledtanh" => (1f, 1f),
                    "hardsigmoid" => (0.2f, 0.5f),
                    "elu" => (1f, null),
                    _ => (null, null),
                };
                return new Activation(n, Take(alphas, alpha), Take(betas, beta));
            }).ToArray();
            return [.. Enumerable.Range(0, Directions).Select(d => all.Length == per ? all : all[(d * per)..((d + 1) * per)])];
        }

        private Value Widen(Value v) => _compute == _type ? v : _b.Add("Cast", [v], DecompositionBuilder.Attrs(("to", AttributeValue.Int((long)_compute))));
        private Value Narrow(Value v) => _compute == _type ? v : _b.Add("Cast", [v], DecompositionBuilder.Attrs(("to", AttributeValue.Int((long)_type))));

        private TensorData ScalarOf(double value) => _compute == ElementType.Float64
            ? TensorData.Scalar(ElementType.Float64, value) : TensorData.Scalar(ElementType.Float32, (float)value);

        private static Dictionary<string, AttributeValue> Axis(long axis) => DecompositionBuilder.Attrs(("axis", AttributeValue.Int(axis)));

        private KilnException Unsupported(string why) =>
            new(ErrorCode.UnsupportedOperator, $"{_op.Describe()}: {_op.OpType} decomposition: {why}");
    }
}
