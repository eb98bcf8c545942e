using Kiln.Compiler.Lowering.Elementwise;
using Kiln.Ir;
using Kiln.Runtime.Kernels.Elementwise;

namespace Kiln.Compiler.Lowering;

/// <summary>A strided view of a tensor's elements: a base element offset and one stride per iteration dimension.</summary>
public sealed record StridedView(TensorRef Tensor, Dim Base, Dim[] Strides)
{
    /// <summary>The whole tensor read in row-major order over its own shape.</summary>
    public static StridedView Contiguous(TensorRef t) => new(t, 0, Layout.ContiguousStrides(t.Shape));
}

/// <summary>Row-major layout arithmetic on symbolic shapes.</summary>
public static class Layout
{
    public static Dim[] ContiguousStrides(IReadOnlyList<Dim> shape)
    {
        var s = new Dim[shape.Count];
        Dim acc = 1;
        for (int i = shape.Count - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    /// <summary>
    /// Strides that read a tensor of shape <paramref name="input"/> broadcast to <paramref name="output"/>
    /// (aligned at the right; 0 along dimensions of size 1 that are broadcast).
    /// </summary>
    public static Dim[] BroadcastStrides(IReadOnlyList<Dim> input, IReadOnlyList<Dim> output, Operation op)
    {
        var own = ContiguousStrides(input);
        var s = new Dim[output.Count];
        int offset = output.Count - input.Count;
        if (offset < 0) throw new KilnException(ErrorCode.InvalidShape, $"{op.Describe()}: operand of rank {input.Count} is broadcast to rank {output.Count}");
        for (int i = 0; i < output.Count; i++)
        {
            if (i < offset) { s[i] = 0; continue; }
            var d = input[i - offset];
            if (d == output[i]) s[i] = own[i - offset];
            else if (d.TryGetValue(out long v) && v == 1) s[i] = 0;
            else throw new KilnException(ErrorCode.UnsupportedOperator,
                $"{op.Describe()}: not supported by the compiled path: cannot tell at compile time whether size {d} broadcasts to {output[i]}");
        }
        return s;
    }

    /// <summary>
    /// Like <see cref="BroadcastStrides(IReadOnlyList{Dim}, IReadOnlyList{Dim}, Operation)"/>, but two
    /// symbolic sizes the compiler cannot prove equal (such as ((H-1)/32+1)*2 and (H-1)/16+1) are taken to
    /// be equal, with a run-time check that fails the invocation clearly if they are not.
    /// </summary>
    public static Dim[] BroadcastStrides(LoweringContext ctx, IReadOnlyList<Dim> input, IReadOnlyList<Dim> output)
    {
        var own = ContiguousStrides(input);
        var s = new Dim[output.Count];
        int offset = output.Count - input.Count;
        if (offset < 0) throw new KilnException(ErrorCode.InvalidShape, $"{ctx.Op.Describe()}: operand of rank {input.Count} is broadcast to rank {output.Count}");
        for (int i = 0; i < output.Count; i++)
        {
            if (i < offset) { s[i] = 0; continue; }
            var d = input[i - offset];
            if (d == output[i]) s[i] = own[i - offset];
            else if (d.TryGetValue(out long v) && v == 1) s[i] = 0;
            else if (d.IsKnown && output[i].IsKnown)
                throw new KilnException(ErrorCode.InvalidShape, $"{ctx.Op.Describe()}: size {d} does not broadcast to {output[i]}");
            else
            {
                ctx.Add(new CheckStep(d, output[i], $"{ctx.Op.Describe()}: sizes {d} and {output[i]} differ at run time (broadcasting a symbolic size is not supported)"));
                s[i] = own[i - offset];
            }
        }
        return s;
    }

    public static Dim Product(IEnumerable<Dim> dims) => dims.Aggregate((Dim)1, (a, b) => a * b);
}

/// <summary>
/// Emits elementwise dispatches that only move data: each reads a strided source view and writes
/// a strided destination view over one iteration shape. Transpose, slice, concat, expand, tile,
/// pad and depth/space rearrangements are all such copies.
/// </summary>
public static class StridedCopy
{
    public static void Emit(LoweringContext ctx, Dim[] shape, StridedView source, StridedView destination)
    {
        var b = new ProgramBuilder(shape.Length);
        var et = (ElementType)(byte)source.Tensor.DType;
        b.StoreNewOutput(b.LoadNewInput(et), (ElementType)(byte)destination.Tensor.DType);
        Dispatch(ctx, b, shape, [source], [destination]);
    }

    /// <summary>Fills a destination view with one value.</summary>
    public static void Fill(LoweringContext ctx, Dim[] shape, StridedView destination, double value)
    {
        var b = new ProgramBuilder(shape.Length);
        var et = (ElementType)(byte)destination.Tensor.DType;
        b.StoreNewOutput(b.Float(value, et), et);
        Dispatch(ctx, b, shape, [], [destination]);
    }

    /// <summary>Dispatches an elementwise program over an iteration shape with the given operand views.</summary>
    public static void Dispatch(LoweringContext ctx, ProgramBuilder b, Dim[] shape, IReadOnlyList<StridedView> inputs, IReadOnlyList<StridedView> outputs)
    {
        var program = b.Build();
        var constants = new List<Dim>(shape);
        foreach (var v in inputs.Concat(outputs))
        {
            if (v.Strides.Length != shape.Length) throw new InvalidOperationException("a view needs one stride per iteration dimension");
            constants.Add(v.Base);
            constants.AddRange(v.Strides);
        }
        var spec = new KernelSpec(ElementwiseKernel.KernelName, program.Encode(), inputs.Count + outputs.Count, program.ConstantCount);
        ctx.Dispatch(spec, inputs.Select(v => v.Tensor).ToArray(), outputs.Select(v => v.Tensor).ToArray(), constants);
    }
}

/// <summary>Lowers every operator that has an elementwise emitter to one elementwise dispatch over its result's shape.</summary>
[Lowerings]
public static class ElementwiseLowering
{
    public static void Register(LoweringRegistry r)
    {
        foreach (var name in ElementwiseEmitters.All.Keys) r.Add(name, Lower);
        r.Add(Kiln.Ops.Operators.KilnRegions.ElementwiseRegion, LowerRegion, Kiln.Ops.Operators.KilnRegions.Domain);
    }

    /// <summary>A fused region: one program that loads the region's operands, runs every body operation's emitter, stores its results.</summary>
    private static void LowerRegion(LoweringContext ctx)
    {
        var op = ctx.Op;
        var body = op.GetGraph("body");
        var shape = ctx.OutputShape(0);
        var b = new ProgramBuilder(shape.Length);
        var regs = new Dictionary<Value, Reg>(ReferenceEqualityComparer.Instance);
        var views = new List<StridedView>();
        for (int i = 0; i < op.Inputs.Count; i++)
        {
            var t = ctx.Input(i);
            regs[body.Inputs[i]] = b.LoadNewInput((ElementType)(byte)t.DType);
            views.Add(new StridedView(t, 0, Layout.BroadcastStrides(ctx, t.Shape, shape)));
        }
        foreach (var inner in body.Operations)
        {
            var operands = inner.Inputs.Select((v, k) => v is null || ElementwiseEmitters.IsTypeOnly(inner.OpType, k) ? (Reg?)null : regs[v]).ToArray();
            var results = ElementwiseEmitters.All[inner.OpType](new EmitContext(b, inner, operands));
            regs[inner.Output(0)] = results[0];
        }
        var outputs = new List<StridedView>();
        for (int i = 0; i < op.Outputs.Count; i++)
        {
            b.StoreNewOutput(regs[body.Outputs[i]], ctx.OutputElementType(i));
            outputs.Add(StridedView.Contiguous(ctx.NewOutput(i)));
        }
        StridedCopy.Dispatch(ctx, b, shape, views, outputs);
    }

    private static void Lower(LoweringContext ctx)
    {
        if (StringLowering.TakesStrings(ctx)) { StringLowering.LowerEqual(ctx); return; } // Equal on strings: a host operation
        var op = ctx.Op;
        var shape = ctx.OutputShape(0);
        var b = new ProgramBuilder(shape.Length);
        var regs = new Reg?[op.Inputs.Count];
        var views = new List<StridedView>();
        for (int i = 0; i < regs.Length; i++)
        {
            if (ctx.OptionalInput(i) is not { } t || ElementwiseEmitters.IsTypeOnly(op.OpType, i)) continue;
            regs[i] = b.LoadNewInput((ElementType)(byte)t.DType);
            views.Add(new StridedView(t, 0, Layout.BroadcastStrides(ctx, t.Shape, shape)));
        }
        var results = ElementwiseEmitters.All[op.OpType](new EmitContext(b, op, regs));
        var outputs = new List<StridedView>();
        for (int i = 0; i < results.Length; i++)
        {
            if (!op.HasOutput(i)) continue;
            b.StoreNewOutput(results[i], ctx.OutputElementType(i));
            outputs.Add(StridedView.Contiguous(ctx.NewOutput(i)));
        }
        StridedCopy.Dispatch(ctx, b, shape, views, outputs);
    }
}
