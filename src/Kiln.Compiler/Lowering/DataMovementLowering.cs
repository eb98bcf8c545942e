using Kiln.Ir;
using Kiln.Runtime;
using Kiln.Runtime.Kernels.Indexing;

namespace Kiln.Compiler.Lowering;

/// <summary>
/// Operators that only rearrange data. Reshapes are views (no data moves); the rest are strided
/// copies — one elementwise dispatch whose source and destination views say where each element
/// comes from and goes to.
/// </summary>
[Lowerings]
public static class DataMovementLowering
{
    public static void Register(LoweringRegistry r)
    {
        foreach (var name in new[] { "Flatten", "Identity" })
            r.Add(name, ctx => ctx.SetOutput(0, ctx.Input(0).View(ctx.OutputShape(0))));
        // Views too; a shape or axes operand given as data is checked against the compiled shape.
        r.Add("Reshape", ctx => { ShapeOperands.Reshape(ctx); ctx.SetOutput(0, ctx.Input(0).View(ctx.OutputShape(0))); });
        r.Add("Squeeze", ctx => { ShapeOperands.Squeeze(ctx); ctx.SetOutput(0, ctx.Input(0).View(ctx.OutputShape(0))); });
        r.Add("Unsqueeze", ctx => { ShapeOperands.Unsqueeze(ctx); ctx.SetOutput(0, ctx.Input(0).View(ctx.OutputShape(0))); });
        r.Add("Dropout", LowerDropout);
        r.Add("Transpose", LowerTranspose);
        r.Add("Slice", LowerSlice);
        r.Add("Concat", LowerConcat);
        r.Add("Split", LowerSplit);
        r.Add("Expand", ctx =>
        {
            ShapeOperands.Expand(ctx);
            var shape = ctx.OutputShape(0);
            var x = ctx.Input(0);
            StridedCopy.Emit(ctx, shape, new StridedView(x, 0, Layout.BroadcastStrides(ctx, x.Shape, shape)), StridedView.Contiguous(ctx.NewOutput(0)));
        });
        r.Add("Tile", LowerTile);
        r.Add("Pad", LowerPad);
        r.Add("CenterCropPad", LowerCenterCropPad);
        r.Add("ConstantOfShape", ctx =>
        {
            var value = ctx.Op.GetTensor("value");
            double v = value is null ? 0 : value.GetDouble(0);
            ShapeOperands.ExactShape(ctx, 0);
            var y = ctx.NewOutput(0);
            StridedCopy.Fill(ctx, y.Shape, StridedView.Contiguous(y), v);
        });
        r.Add("Shape", ctx =>
        {
            var x = ctx.Input(0);
            int rank = x.Rank;
            long start = ctx.Op.GetInt("start", 0), end = ctx.Op.GetInt("end", rank);
            if (start < 0) start += rank;
            if (end < 0) end += rank;
            start = Math.Clamp(start, 0, rank);
            end = Math.Clamp(end, start, rank);
            ctx.Add(new StoreDimsStep(ctx.NewOutput(0), x.Shape[(int)start..(int)end]));
        });
        r.Add("Size", ctx => ctx.Add(new StoreDimsStep(ctx.NewOutput(0), [ctx.Input(0).ElementCount])));
        r.Add("BitCast", LowerBitCast);
        r.Add("DepthToSpace", ctx => LowerDepthSpace(ctx, toSpace: true));
        r.Add("SpaceToDepth", ctx => LowerDepthSpace(ctx, toSpace: false));
    }

    private static void LowerDropout(LoweringContext ctx)
    {
        // Inference: the data passes through (training_mode with a nonzero ratio is randomness).
        if (ctx.Constant(2) is { } training && training.GetDouble(0) != 0 && (ctx.Constant(1)?.GetDouble(0) ?? 0.5) != 0)
            throw ctx.Unsupported("training-mode dropout");
        if (ctx.HasInput(2) && ctx.Constant(2) is null) CheckNotTraining(ctx);
        ctx.SetOutput(0, ctx.Input(0).View(ctx.OutputShape(0)));
        if (ctx.Op.HasOutput(1))
        {
            var mask = ctx.NewOutput(1);
            StridedCopy.Fill(ctx, mask.Shape, StridedView.Contiguous(mask), 1);
        }
    }

    /// <summary>
    /// training_mode given as data: the compiled program runs inference only, so it checks at run
    /// time that training is off or the ratio is zero (then dropout is the identity, as in training).
    /// </summary>
    private static void CheckNotTraining(LoweringContext ctx)
    {
        Dim training = ShapeOperands.Read(ctx, 2)![0];
        Dim ratioIsZero;
        if (!ctx.HasInput(1)) ratioIsZero = 0; // the default ratio, 0.5
        else if (ctx.Constant(1) is { } ratio) ratioIsZero = ratio.GetDouble(0) == 0 ? 1 : 0;
        else
        {
            // A float ratio read as its bits: +0 and -0 are the zeros (a float load would truncate 0.5 to 0).
            var r = ctx.Input(1);
            var (bits, sign) = r.DType switch
            {
                DType.Float32 => (DType.Int32, (long)int.MinValue),
                DType.Float64 => (DType.Int64, long.MinValue),
                DType.Float16 or DType.BFloat16 => (DType.Int16, (long)short.MinValue),
                _ => throw ctx.Unsupported($"a {r.DType.Name()} ratio"),
            };
            string symbol = ctx.NewSymbol("dropout.ratio");
            ctx.Add(new ReadDimStep(new TensorRef(bits, [], r.Block, r.ByteOffset), symbol));
            ratioIsZero = Dim.Min(Dim.Eq(Dim.Symbol(symbol), 0) + Dim.Eq(Dim.Symbol(symbol), sign), 1);
        }
        ShapeOperands.Expect(ctx, Dim.Min(Dim.Eq(training, 0) + ratioIsZero, 1),
            "training_mode is on with a nonzero ratio at run time: dropout then draws random masks, and the compiled program runs inference only");
    }

    private static void LowerTranspose(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        var perm = ctx.Op.GetInts("perm") ?? Enumerable.Range(0, x.Rank).Reverse().Select(i => (long)i).ToArray();
        var strides = Layout.ContiguousStrides(x.Shape);
        var y = ctx.NewOutput(0);
        StridedCopy.Emit(ctx, y.Shape, new StridedView(x, 0, perm.Select(p => strides[p]).ToArray()), StridedView.Contiguous(y));
    }

    /// <summary>Slice with constant starts/ends/axes/steps: a strided view of the input (negative steps read backwards).</summary>
    private static void LowerSlice(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        if (Enumerable.Range(1, 4).Any(i => ctx.HasInput(i) && ctx.Constant(i) is null))
        {
            SliceWithOperandsFromData(ctx);
            return;
        }
        var starts = ctx.Constant(1)!.ToInt64Array();
        var ends = ctx.Constant(2)!.ToInt64Array();
        var axes = ctx.HasInput(3) ? ctx.Constant(3)!.ToInt64Array() : Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
        var steps = ctx.HasInput(4) ? ctx.Constant(4)!.ToInt64Array() : starts.Select(_ => 1L).ToArray();
        var strides = Layout.ContiguousStrides(x.Shape);
        var viewStrides = (Dim[])strides.Clone();
        Dim baseOffset = 0;
        for (int k = 0; k < axes.Length; k++)
        {
            int a = (int)(axes[k] < 0 ? axes[k] + x.Rank : axes[k]);
            long step = steps[k];
            if (!x.Shape[a].TryGetValue(out long size))
            {
                if (step == 1 && starts[k] >= 0 && ends[k] >= long.MaxValue / 2) { baseOffset += starts[k] * strides[a]; continue; }
                throw ctx.Unsupported($"slicing a symbolic dimension ({x.Shape[a]}) with these bounds");
            }
            long start = starts[k], end = ends[k];
            if (start < 0) start += size;
            if (end < 0) end += size;
            start = step > 0 ? Math.Clamp(start, 0, size) : Math.Clamp(start, 0, size - 1);
            baseOffset += start * strides[a];
            viewStrides[a] = strides[a] * step;
        }
        var y = ctx.NewOutput(0);
        if (y.ElementCount.TryGetValue(out long n) && n == 0) return;
        StridedCopy.Emit(ctx, y.Shape, new StridedView(x, baseOffset, viewStrides), StridedView.Contiguous(y));
    }

    /// <summary>
    /// Slice whose starts, ends, axes or steps are computed at run time: the host program reads them
    /// and computes the view's offset and strides (sizes as dimension expressions); the result's
    /// shape is the declared one, and each sliced length is checked against it.
    /// </summary>
    private static void SliceWithOperandsFromData(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        Dim[] Operand(int i) => ShapeOperands.Read(ctx, i) ?? ctx.Constant(i)!.ToInt64Array().Select(v => (Dim)v).ToArray();
        var starts = Operand(1);
        var ends = Operand(2);
        var axes = ctx.HasInput(3) ? Operand(3) : Enumerable.Range(0, starts.Length).Select(i => (Dim)i).ToArray();
        var steps = ctx.HasInput(4) ? Operand(4) : starts.Select(_ => (Dim)1).ToArray();
        if (ends.Length != starts.Length || axes.Length != starts.Length || steps.Length != starts.Length)
            throw new KilnException(ErrorCode.InvalidModel, $"{ctx.Op.Describe()}: starts, ends, axes and steps must have the same length");
        axes = ShapeOperands.NormalizeAxes(ctx, axes, x.Rank);
        var strides = Layout.ContiguousStrides(x.Shape);
        var viewStrides = new Dim[x.Rank];
        var lengths = new Dim[x.Rank];
        Dim baseOffset = 0;
        for (int k = 0; k < steps.Length; k++)
            ShapeOperands.Expect(ctx, 1 - Dim.Eq(steps[k], 0), $"step {k} is 0");
        for (int t = 0; t < x.Rank; t++)
        {
            Dim n = x.Shape[t], listed = 0, start = 0, step = 0, length = 0;
            for (int k = 0; k < axes.Length; k++)
            {
                Dim here = Dim.Eq(axes[k], t);
                if (here.TryGetValue(out long h) && h == 0) continue;
                var (s, len) = SliceBounds(starts[k], ends[k], steps[k], n);
                listed += here;
                start += here * s;
                step += here * steps[k];
                length += here * len;
            }
            step += 1 - listed;
            length += (1 - listed) * n;
            lengths[t] = length;
            baseOffset += start * strides[t];
            viewStrides[t] = strides[t] * step;
        }
        ctx.DefineOutputShape(0, lengths);
        var y = ctx.NewOutput(0);
        if (y.ElementCount.TryGetValue(out long count) && count == 0) return;
        StridedCopy.Emit(ctx, y.Shape, new StridedView(x, baseOffset, viewStrides), StridedView.Contiguous(y));
    }

    /// <summary>The first index and the length of a slice of an axis of size n (ONNX clamping; either sign of step).</summary>
    private static (Dim Start, Dim Length) SliceBounds(Dim start, Dim end, Dim step, Dim n)
    {
        Dim forward = 1 - Dim.Lt(step, 0);
        start += n * Dim.Lt(start, 0);
        end += n * Dim.Lt(end, 0);
        Dim startUp = Dim.Min(Dim.Max(start, 0), n), endUp = Dim.Min(Dim.Max(end, 0), n);
        Dim startDown = Dim.Min(Dim.Max(start, 0), n - 1), endDown = Dim.Min(Dim.Max(end, -1), n - 1);
        // Divisors stay nonzero on the branch not taken (a zero step is refused before).
        Dim up = Dim.Max(Dim.CeilDiv(endUp - startUp, Dim.Max(step, 1)), 0);
        Dim down = Dim.Max(Dim.CeilDiv(startDown - endDown, Dim.Max(0 - step, 1)), 0);
        return (forward * startUp + (1 - forward) * startDown, forward * up + (1 - forward) * down);
    }

    private static void LowerConcat(LoweringContext ctx)
    {
        var y = ctx.NewOutput(0);
        int axis = (int)ctx.Op.GetInt("axis");
        if (axis < 0) axis += y.Rank;
        var strides = Layout.ContiguousStrides(y.Shape);
        Dim offset = 0;
        for (int i = 0; i < ctx.Op.Inputs.Count; i++)
        {
            var x = ctx.Input(i);
            if (!(x.Shape[axis].TryGetValue(out long len) && len == 0))
                StridedCopy.Emit(ctx, x.Shape, StridedView.Contiguous(x), new StridedView(y, offset * strides[axis], strides));
            offset += x.Shape[axis];
        }
    }

    private static void LowerSplit(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        int axis = (int)ctx.Op.GetInt("axis", 0);
        if (axis < 0) axis += x.Rank;
        var strides = Layout.ContiguousStrides(x.Shape);
        if (ShapeOperands.Read(ctx, 1) is { } sizes)
        {
            if (sizes.Length != ctx.Op.Outputs.Count) throw new KilnException(ErrorCode.InvalidModel, $"{ctx.Op.Describe()}: split has {sizes.Length} sizes for {ctx.Op.Outputs.Count} results");
            ShapeOperands.Expect(ctx, Dim.Eq(sizes.Aggregate((Dim)0, (a, b) => a + b), x.Shape[axis]), $"the split sizes do not add up to the size of axis {axis}");
            for (int i = 0; i < sizes.Length; i++)
            {
                ShapeOperands.Expect(ctx, 1 - Dim.Lt(sizes[i], 0), $"split size {i} is negative");
                ctx.DefineOutputShape(i, x.Shape.Select((d, a) => a == axis ? sizes[i] : d).ToArray());
            }
        }
        Dim offset = 0;
        for (int i = 0; i < ctx.Op.Outputs.Count; i++)
        {
            var shape = ctx.OutputShape(i);
            if (ctx.Op.HasOutput(i))
            {
                var y = ctx.NewOutput(i);
                StridedCopy.Emit(ctx, y.Shape, new StridedView(x, offset * strides[axis], strides), StridedView.Contiguous(y));
            }
            offset += shape[axis];
        }
    }

    /// <summary>Tile as a copy over [repeat_0, size_0, repeat_1, size_1, ...]: the input ignores the repeat index.</summary>
    private static void LowerTile(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        // Repeats given as data are read by the host program and checked against the compiled shape.
        var repeats = ctx.Constant(1)?.ToInt64Array().Select(r => (Dim)r).ToArray() ?? ShapeOperands.Read(ctx, 1)!;
        if (repeats.Length != x.Rank) throw new KilnException(ErrorCode.InvalidModel, $"{ctx.Op.Describe()}: {repeats.Length} repeats for rank {x.Rank}");
        if (ctx.Constant(1) is null) ShapeOperands.Tile(ctx, repeats);
        var y = ctx.NewOutput(0);
        if (2 * x.Rank > Runtime.Kernels.Elementwise.ElementwiseProgram.MaxRank) throw ctx.Unsupported($"tiling rank {x.Rank}");
        var inStrides = Layout.ContiguousStrides(x.Shape);
        var outStrides = Layout.ContiguousStrides(y.Shape);
        var shape = new Dim[2 * x.Rank];
        var src = new Dim[2 * x.Rank];
        var dst = new Dim[2 * x.Rank];
        for (int a = 0; a < x.Rank; a++)
        {
            shape[2 * a] = repeats[a];
            shape[2 * a + 1] = x.Shape[a];
            src[2 * a] = 0;
            src[2 * a + 1] = inStrides[a];
            dst[2 * a] = x.Shape[a] * outStrides[a];
            dst[2 * a + 1] = outStrides[a];
        }
        if (y.ElementCount.TryGetValue(out long n) && n == 0) return;
        StridedCopy.Emit(ctx, shape, new StridedView(x, 0, src), new StridedView(y, 0, dst));
    }

    /// <summary>
    /// CenterCropPad: the listed axes take their sizes from the shape operand (a constant, or data
    /// checked at run time against the declared result); the overlap of input and result, centered
    /// (odd leftovers at the end), is copied into a zero-filled result.
    /// </summary>
    private static void LowerCenterCropPad(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        int rank = x.Rank;
        var axes = ctx.Op.GetInts("axes") is { } given ? Kiln.Ops.Axes.Normalize(given, rank, ctx.Op) : Enumerable.Range(0, rank).ToArray();
        var sizes = ShapeOperands.Read(ctx, 1) ?? ctx.Constant(1)!.ToInt64Array().Select(v => (Dim)v).ToArray();
        if (sizes.Length != axes.Length) throw new KilnException(ErrorCode.InvalidModel, $"{ctx.Op.Describe()}: shape has {sizes.Length} sizes for {axes.Length} axes");
        var dims = (Dim[])x.Shape.Clone();
        for (int i = 0; i < axes.Length; i++) dims[axes[i]] = sizes[i];
        if (ctx.Constant(1) is null) ctx.DefineOutputShape(0, dims);
        var y = ctx.NewOutput(0);
        if (y.ElementCount.TryGetValue(out long n) && n == 0) return;
        var inStrides = Layout.ContiguousStrides(x.Shape);
        var outStrides = Layout.ContiguousStrides(y.Shape);
        var overlap = new Dim[rank];
        Dim source = 0, target = 0;
        bool pads = false;
        for (int a = 0; a < rank; a++)
        {
            Dim size = x.Shape[a], result = y.Shape[a];
            overlap[a] = Dim.Min(size, result);
            source += Dim.Max(size - result, 0) / 2 * inStrides[a];
            target += Dim.Max(result - size, 0) / 2 * outStrides[a];
            pads |= !(overlap[a] == result);
        }
        if (pads) StridedCopy.Fill(ctx, y.Shape, StridedView.Contiguous(y), 0);
        if (overlap.Any(d => d.TryGetValue(out long v) && v == 0)) return;
        StridedCopy.Emit(ctx, overlap, new StridedView(x, source, inStrides), new StridedView(y, target, outStrides));
    }

    /// <summary>
    /// Pad. Constant mode with operands known at compile time fills the output and copies the
    /// (possibly cropped) input into its interior; the other modes, and operands computed at run
    /// time, are one "pad" dispatch that maps each output index to its source by the mode.
    /// </summary>
    private static void LowerPad(LoweringContext ctx)
    {
        var mode = ctx.Op.GetString("mode", "constant") switch
        {
            "constant" => PadMode.Constant,
            "reflect" => PadMode.Reflect,
            "edge" => PadMode.Edge,
            "wrap" => PadMode.Wrap,
            var m => throw ctx.Unsupported($"pad mode '{m}'"),
        };
        bool knownOperands = Enumerable.Range(1, 3).All(i => !ctx.HasInput(i) || ctx.Constant(i) is not null);
        if (mode != PadMode.Constant || !knownOperands)
        {
            LowerIndexedPad(ctx, mode);
            return;
        }
        var x = ctx.Input(0);
        var pads = ctx.Constant(1)?.ToInt64Array() ?? throw ctx.Unsupported("pads computed at run time");
        // The pad value: a constant, or a scalar computed at run time (then broadcast-copied into the output).
        TensorRef? runtimeValue = ctx.HasInput(2) && ctx.Constant(2) is null ? ctx.Input(2) : null;
        double value = ctx.HasInput(2) ? ctx.Constant(2)?.GetDouble(0) ?? 0 : 0;
        int rank = x.Rank;
        var axes = ctx.HasInput(3) ? (ctx.Constant(3)?.ToInt64Array() ?? throw ctx.Unsupported("pad axes computed at run time")).Select(a => (int)(a < 0 ? a + rank : a)).ToArray()
            : Enumerable.Range(0, rank).ToArray();
        var begin = new long[rank];
        var end = new long[rank];
        for (int k = 0; k < axes.Length; k++) { begin[axes[k]] = pads[k]; end[axes[k]] = pads[k + axes.Length]; }
        var y = ctx.NewOutput(0);
        if (runtimeValue is null) StridedCopy.Fill(ctx, y.Shape, StridedView.Contiguous(y), value);
        else StridedCopy.Emit(ctx, y.Shape, new StridedView(runtimeValue, 0, y.Shape.Select(_ => (Dim)0).ToArray()), StridedView.Contiguous(y));
        var inStrides = Layout.ContiguousStrides(x.Shape);
        var outStrides = Layout.ContiguousStrides(y.Shape);
        var shape = new Dim[rank];
        Dim src = 0, dst = 0;
        for (int a = 0; a < rank; a++)
        {
            // Negative pads crop the input.
            long cropBegin = Math.Max(0, -begin[a]), cropEnd = Math.Max(0, -end[a]);
            shape[a] = x.Shape[a] - cropBegin - cropEnd;
            src += cropBegin * inStrides[a];
            dst += Math.Max(0, begin[a]) * outStrides[a];
            if (shape[a].TryGetValue(out long s) && s <= 0) return;
        }
        StridedCopy.Emit(ctx, shape, new StridedView(x, src, inStrides), new StridedView(y, dst, outStrides));
    }

    /// <summary>
    /// BitCast: whole-byte types are the same bytes seen as another dtype (a view). Sub-byte integers
    /// (held one per byte) and bool need their bits re-extended: an elementwise program wraps them.
    /// </summary>
    private static void LowerBitCast(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        var to = ctx.OutputElementType(0);
        var from = ctx.InputElementType(0);
        if (to.BitWidth() >= 8 && to != ElementType.Bool)
        {
            ctx.SetOutput(0, new TensorRef(LoweringContext.DTypeOf(to), x.Shape, x.Block, x.ByteOffset));
            return;
        }
        if (!(from.IsInteger() || from == ElementType.Bool) || !(to.IsInteger() || to == ElementType.Bool))
            throw ctx.Unsupported($"reinterpreting {from.OnnxName()} as {to.OnnxName()}");
        var b = new Elementwise.ProgramBuilder(x.Rank);
        var bits = b.LoadNewInput(from);
        var value = to == ElementType.Bool ? b.Convert(bits, to) : b.Wrap(bits with { Element = to });
        b.StoreNewOutput(value, to);
        var y = ctx.NewOutput(0);
        StridedCopy.Dispatch(ctx, b, y.Shape, [StridedView.Contiguous(x)], [StridedView.Contiguous(y)]);
    }

    private static void LowerIndexedPad(LoweringContext ctx, PadMode mode)
    {
        var x = ctx.Input(0);
        var value = ctx.OptionalInput(2);
        var axes = ctx.OptionalInput(3);
        if (ShapeOperands.Read(ctx, 1) is { } pads) DefinePaddedShape(ctx, x, pads);
        var y = ctx.NewOutput(0);
        var descriptor = PadKernel.Encode(x.DType, x.Rank, mode, value is not null, axes?.DType);
        var inputs = new List<TensorRef> { x, ctx.Input(1) };
        if (value is not null) inputs.Add(value);
        if (axes is not null) inputs.Add(axes);
        if (x.Rank == 0) throw ctx.Unsupported("padding a scalar");
        ctx.Dispatch(new KernelSpec(PadKernel.KernelName, descriptor, inputs.Count + 1, 2 * x.Rank), inputs, [y], [.. x.Shape, .. y.Shape]);
    }

    /// <summary>Pads read at run time: each listed axis grows by its begin and end pads (the kernel reads and checks them too).</summary>
    private static void DefinePaddedShape(LoweringContext ctx, TensorRef x, Dim[] pads)
    {
        var axes = !ctx.HasInput(3) ? Enumerable.Range(0, x.Rank).Select(a => (Dim)a).ToArray()
            : ShapeOperands.Read(ctx, 3) ?? ctx.Constant(3)!.ToInt64Array().Select(a => (Dim)a).ToArray();
        if (pads.Length != 2 * axes.Length) throw new KilnException(ErrorCode.InvalidModel, $"{ctx.Op.Describe()}: {pads.Length} pads for {axes.Length} axes");
        axes = ShapeOperands.NormalizeAxes(ctx, axes, x.Rank);
        var dims = (Dim[])x.Shape.Clone();
        for (int t = 0; t < dims.Length; t++)
            for (int i = 0; i < axes.Length; i++)
                dims[t] += Dim.Eq(axes[i], t) * (pads[i] + pads[i + axes.Length]);
        ctx.DefineOutputShape(0, dims);
    }

    /// <summary>DepthToSpace (DCR or CRD) and SpaceToDepth as copies over a 6-d iteration space in the output's order.</summary>
    private static void LowerDepthSpace(LoweringContext ctx, bool toSpace)
    {
        var x = ctx.Input(0);
        if (x.Rank != 4) throw ctx.Unsupported($"rank {x.Rank}");
        long b = ctx.Op.GetInt("blocksize");
        var y = ctx.NewOutput(0);
        Dim n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        Dim hw = h * w, chw = c * hw;
        if (toSpace)
        {
            Dim cOut = y.Shape[1];
            bool crd = ctx.Op.GetString("mode", "DCR") == "CRD";
            // Output viewed as [N, C', H, b_i, W, b_j]; input element of (c', i, j) is channel (i*b+j)*C' + c' (DCR) or c'*b*b + i*b + j (CRD).
            Dim[] shape = [n, cOut, h, b, w, b];
            Dim[] src = crd ? [chw, b * b * hw, w, b * hw, 1, hw] : [chw, hw, w, b * cOut * hw, 1, cOut * hw];
            StridedCopy.Emit(ctx, shape, new StridedView(x, 0, src), new StridedView(y, 0, Layout.ContiguousStrides(shape)));
        }
        else
        {
            // Output [N, b_i, b_j, C, H/b, W/b] (channel = (i*b+j)*C + c); input [N, C, H/b, b_i, W/b, b_j].
            Dim hOut = y.Shape[2], wOut = y.Shape[3];
            Dim[] shape = [n, b, b, c, hOut, wOut];
            Dim[] src = [chw, w, 1, hw, b * w, b];
            StridedCopy.Emit(ctx, shape, new StridedView(x, 0, src), new StridedView(y, 0, Layout.ContiguousStrides(shape)));
        }
    }
}
