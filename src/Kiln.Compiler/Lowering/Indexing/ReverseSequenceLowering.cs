using Kiln.Ir;
using Kiln.Runtime;
using Kiln.Runtime.Kernels.Indexing;

namespace Kiln.Compiler.Lowering.Indexing;

/// <summary>ReverseSequence as one "reversesequence" dispatch; the kernel checks every sequence length against the time axis.</summary>
[Lowerings]
public static class ReverseSequenceLowering
{
    public static void Register(LoweringRegistry r) => r.Add("ReverseSequence", Lower);

    private static void Lower(LoweringContext ctx)
    {
        var x = ctx.Input(0);
        var lengths = ctx.Input(1);
        if (x.Rank < 2) throw ctx.Unsupported("the input needs a batch and a time axis");
        if (lengths.DType is not (DType.Int32 or DType.Int64)) throw ctx.Unsupported($"sequence_lens of {lengths.DType.Name()} elements");
        long time = ctx.Op.GetInt("time_axis", 0), batch = ctx.Op.GetInt("batch_axis", 1);
        if (time < 0) time += x.Rank;
        if (batch < 0) batch += x.Rank;
        if (!(time is 0 or 1 && batch == 1 - time)) throw ctx.Unsupported("batch_axis and time_axis must be 0 and 1 in some order");
        if (x.DType.Size() is not (1 or 2 or 4 or 8)) throw ctx.Unsupported($"elements of {x.DType.Name()}");
        var descriptor = ReverseSequenceKernel.Encode(x.DType, lengths.DType, (int)time);
        Dim[] constants = [x.Shape[0], x.Shape[1], Layout.Product(x.Shape.Skip(2))];
        ctx.Dispatch(new KernelSpec(ReverseSequenceKernel.KernelName, descriptor, 3, 3), [x, lengths], [ctx.NewOutput(0)], constants);
    }
}
