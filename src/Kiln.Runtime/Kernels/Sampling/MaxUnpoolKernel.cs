using System.Runtime.InteropServices;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Kernels.Support;

namespace Kiln.Runtime.Kernels.Sampling;

/// <summary>
/// The portable "max-unpool" kernel: MaxUnpool writes each X element at the flat position its
/// index gives within a zero tensor of the unpooled shape, placed at the origin of the (possibly
/// larger) output. Indices are checked against the unpooled size before anything is written. One
/// workgroup, in element order, so a repeated index keeps the last element as the reference does.
/// Descriptor: <c>u8 version(1) · u8 dtype · u8 rank</c>. Push constants: the element count of X,
/// the unpooled shape, the output shape. Bindings: X, I (int64, X's shape), Y.
/// </summary>
public sealed unsafe class MaxUnpoolKernel : Kernel
{
    public const string KernelName = "max-unpool";
    public const byte Version = 1;
    public const int MaxRank = 8;

    private readonly DType _dtype;
    private readonly int _rank;

    private MaxUnpoolKernel(DType dtype, int rank) => (_dtype, _rank) = (dtype, rank);

    public static byte[] Encode(DType dtype, int rank) => [Version, (byte)dtype, (byte)rank];

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = new DescriptorReader(descriptor, KernelName);
        if (r.U8() != Version) throw r.Invalid("unsupported descriptor version");
        byte dtype = r.U8(), rank = r.U8();
        r.ExpectEnd();
        if (!DTypes.IsValid(dtype) || ((DType)dtype).Size() > 8) throw r.Invalid($"dtype {dtype} is not supported");
        if (rank is 0 or > MaxRank) throw r.Invalid($"rank {rank} is outside [1, {MaxRank}]");
        if (bindingCount != 3 || constantCount != 1 + 2 * rank) throw r.Invalid($"needs 3 bindings and {1 + 2 * rank} constants, has {bindingCount} and {constantCount}");
        return new MaxUnpoolKernel((DType)dtype, rank);
    }

    public override string Name => KernelName;

    public override void Validate(in DispatchState d)
    {
        foreach (long v in d.ConstantSpan) KernelChecks.Size(KernelName, v, "a size");
        long count = d.Constant(0);
        var unpooled = d.ConstantSpan.Slice(1, _rank);
        var output = d.ConstantSpan.Slice(1 + _rank, _rank);
        long unpooledCount = KernelChecks.Product(KernelName, unpooled);
        for (int a = 0; a < _rank; a++)
            if (unpooled[a] > output[a]) throw KernelChecks.Error(KernelName, $"the output is smaller than the unpooled shape on axis {a}");
        KernelChecks.Holds(KernelName, d, 0, count, _dtype.Size(), "X");
        KernelChecks.Holds(KernelName, d, 1, count, sizeof(long), "I");
        KernelChecks.Holds(KernelName, d, 2, KernelChecks.Product(KernelName, output), _dtype.Size(), "Y");
        var indices = (long*)d.Binding(1).Data;
        for (long i = 0; i < count; i++)
            if (indices[i] < 0 || indices[i] >= unpooledCount)
                throw KernelChecks.Error(KernelName, $"index {indices[i]} is outside the unpooled tensor of {unpooledCount} elements");
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) => (1, 1, 1);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        var unpooled = d.ConstantSpan.Slice(1, _rank);
        var output = d.ConstantSpan.Slice(1 + _rank, _rank);
        int size = _dtype.Size();
        byte* x = d.Binding(0).Data, y = d.Binding(2).Data;
        var indices = (long*)d.Binding(1).Data;
        long total = 1, unpooledTotal = 1;
        for (int a = 0; a < _rank; a++) { total *= output[a]; unpooledTotal *= unpooled[a]; }
        NativeMemory.Clear(y, (nuint)(total * size));
        for (long i = 0; i < d.Constant(0); i++)
        {
            long flat = indices[i];
            if (flat < 0 || flat >= unpooledTotal) continue;
            // The unpooled coordinates of the index, at the same coordinates of the output.
            long target = 0, stride = 1;
            for (int a = _rank - 1; a >= 0; a--)
            {
                target += flat % unpooled[a] * stride;
                flat /= unpooled[a];
                stride *= output[a];
            }
            Buffer.MemoryCopy(x + i * size, y + target * size, size, size);
        }
    }
}
