using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// Pad (constant, reflect, edge and wrap modes; negative pads crop) and CenterCropPad (crop or
/// zero-pad axes to sizes, keeping the content centered). Each result axis reads the source
/// through an index map, so every mode is one function from output index to source index.
/// </summary>
[OpFamily]
public static class Padding
{
    public static void Register(OpRegistry r)
    {
        r.Add(new PadDefinition());
        r.Add(new CenterCropPadDefinition());
    }

    private enum PadMode { Constant, Reflect, Edge, Wrap }

    /// <summary>Source offsets for one padded axis: output index k reads source index k - begin, mapped back into range by the mode (-1: the constant).</summary>
    private static long[] PaddedAxis(long size, long begin, long end, long stride, PadMode mode)
    {
        var offsets = new long[size + begin + end];
        for (long k = 0; k < offsets.LongLength; k++)
        {
            long j = k - begin;
            long i = j >= 0 && j < size ? j : mode switch
            {
                PadMode.Constant => -1,
                PadMode.Edge => Math.Clamp(j, 0, size - 1),
                PadMode.Wrap => (j % size + size) % size,
                _ => Reflect(j, size),
            };
            offsets[k] = i < 0 ? -1 : i * stride;
        }
        return offsets;
    }

    /// <summary>Mirrors an index into [0, size) without repeating the edge element: -1 reads 1, size reads size - 2.</summary>
    private static long Reflect(long j, long size)
    {
        long period = 2 * (size - 1);
        if (period == 0) return 0;
        long m = (j % period + period) % period;
        return m < size ? m : period - m;
    }

    /// <summary>Pad(data, pads, constant_value?, axes?): pads[i] elements before and pads[i + n] after axis axes[i].</summary>
    private sealed class PadDefinition : OpDefinition
    {
        public override string OpType => "Pad";
        public override int MinInputs => 2;
        public override int MaxInputs => 4;

        private static PadMode Mode(Operation op) => op.GetString("mode", "constant") switch
        {
            "constant" => PadMode.Constant,
            "reflect" => PadMode.Reflect,
            "edge" => PadMode.Edge,
            "wrap" => PadMode.Wrap,
            var m => throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: mode '{m}' is not constant, reflect, edge or wrap"),
        };

        /// <summary>The padded axes (default all) checked against the number of pads.</summary>
        private static int[] PaddedAxes(Operation op, int rank, long[]? axes, int padCount)
        {
            var result = axes is null ? Enumerable.Range(0, rank).ToArray() : Axes.Normalize(axes, rank, op);
            if (padCount != 2 * result.Length)
                throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: {padCount} pads for {result.Length} axes (needs two per axis)");
            return result;
        }

        public override void InferTypes(InferenceContext ctx)
        {
            var et = ctx.InputElementType(0);
            InferValues.ElementTypesFirst(ctx, et);
            Mode(ctx.Op);
            if (ctx.HasInput(2)) Infer.SameElementType(ctx, 0, 2);
            var s = ctx.InputShape(0);
            int rank = ctx.InputRank(0);
            var pads = ctx.InputShapeValue(1);
            var axes = InferValues.KnownInts(ctx, 3);
            if (pads is null || (ctx.HasInput(3) && axes is null))
            {
                ctx.SetOutput(0, et, InferValues.UnknownDims(rank));
                return;
            }
            var padded = PaddedAxes(ctx.Op, rank, axes, pads.Length);
            var dims = s.Dims.ToArray();
            for (int i = 0; i < padded.Length; i++)
            {
                var d = dims[padded[i]] + pads[i] + pads[i + padded.Length];
                if (d.TryGetValue(out long v) && v < 0) throw ctx.Error($"pads make axis {padded[i]} of {s} negative ({v})");
                dims[padded[i]] = d;
            }
            ctx.SetOutput(0, et, new Shape(dims));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var pads = ctx.Tensor(1).ToInt64Array();
            var value = ctx.OptionalTensor(2);
            if (value is not null && (value.ElementType != x.ElementType || value.ElementCount != 1))
                throw ctx.Error($"constant_value must be one {x.ElementType.OnnxName()} element, got {value.Type}");
            var mode = Mode(ctx.Op);
            var axes = PaddedAxes(ctx.Op, x.Rank, ctx.OptionalTensor(3)?.ToInt64Array(), pads.Length);
            var shape = (long[])x.Shape.Clone();
            for (int i = 0; i < axes.Length; i++)
            {
                int a = axes[i];
                shape[a] = checked(x.Shape[a] + pads[i] + pads[i + axes.Length]);
                if (x.Shape[a] == 0 && mode != PadMode.Constant && shape[a] > 0)
                    throw ctx.Error($"cannot pad empty axis {a} in {mode.ToString().ToLowerInvariant()} mode");
            }
            TensorCopy.CheckResultShape(shape, ctx.Error);
            var strides = Broadcasting.Strides(x.Shape);
            var offsets = TensorCopy.IdentityOffsets(x.Shape);
            for (int i = 0; i < axes.Length; i++)
                offsets[axes[i]] = PaddedAxis(x.Shape[axes[i]], pads[i], pads[i + axes.Length], strides[axes[i]], mode);
            ctx.SetOutput(0, TensorCopy.ByAxisOffsets(x, offsets, value));
        }
    }

    /// <summary>CenterCropPad(x, shape): each listed axis cropped or zero-padded to its size, centered (odd leftovers go to the end).</summary>
    private sealed class CenterCropPadDefinition : OpDefinition
    {
        public override string OpType => "CenterCropPad";
        public override int MinInputs => 2;

        private static int[] TargetAxes(Operation op, int rank, int count)
        {
            var axes = op.GetInts("axes") is { } given ? Axes.Normalize(given, rank, op) : Enumerable.Range(0, rank).ToArray();
            if (axes.Length != count)
                throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: shape has {count} sizes for {axes.Length} axes");
            return axes;
        }

        public override void InferTypes(InferenceContext ctx)
        {
            var et = ctx.InputElementType(0);
            InferValues.ElementTypesFirst(ctx, et);
            int rank = ctx.InputRank(0);
            if (ctx.InputShapeValue(1) is not { } sizes)
            {
                ctx.SetOutput(0, et, InferValues.UnknownDims(rank));
                return;
            }
            var axes = TargetAxes(ctx.Op, rank, sizes.Length);
            var dims = ctx.InputShape(0).Dims.ToArray();
            for (int i = 0; i < axes.Length; i++) dims[axes[i]] = sizes[i];
            ctx.SetOutput(0, et, new Shape(dims));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            var sizes = ctx.Tensor(1).ToInt64Array();
            var axes = TargetAxes(ctx.Op, x.Rank, sizes.Length);
            var shape = (long[])x.Shape.Clone();
            for (int i = 0; i < axes.Length; i++) shape[axes[i]] = sizes[i];
            TensorCopy.CheckResultShape(shape, ctx.Error);
            var strides = Broadcasting.Strides(x.Shape);
            var offsets = TensorCopy.IdentityOffsets(x.Shape);
            for (int i = 0; i < axes.Length; i++)
            {
                int a = axes[i];
                long size = x.Shape[a], target = sizes[i];
                offsets[a] = target <= size
                    ? TensorCopy.Strided(target, (size - target) / 2, 1, strides[a])
                    : PaddedAxis(size, (target - size) / 2, target - size - (target - size) / 2, strides[a], PadMode.Constant);
            }
            ctx.SetOutput(0, TensorCopy.ByAxisOffsets(x, offsets));
        }
    }
}
