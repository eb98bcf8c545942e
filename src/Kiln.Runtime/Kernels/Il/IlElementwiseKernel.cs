using System.Runtime.CompilerServices;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Kernels.Elementwise;

namespace Kiln.Runtime.Kernels.Il;

/// <summary>
/// The "elementwise" kernel with its program rendered as IL: the same descriptor, push constants,
/// validation and workgroup split as the portable <see cref="ElementwiseKernel"/> (which it holds
/// for those), and a <see cref="Run"/> that walks the workgroup's chunk row by row, calling the
/// generated row method. Dimensions that are contiguous in every operand are merged first, so fully
/// contiguous tensors are one row per workgroup. Stateless after construction; thread-safe.
/// </summary>
public sealed unsafe class IlElementwiseKernel : Kernel
{
    private readonly ElementwiseKernel _portable;
    private readonly ElementwiseRow _row;
    private readonly int[] _elementSizes;

    public IlElementwiseKernel(ElementwiseKernel portable, ElementwiseRow row)
    {
        _portable = portable;
        _row = row;
        var p = portable.Program;
        _elementSizes = new int[p.Inputs.Length + p.Outputs.Length];
        for (int k = 0; k < _elementSizes.Length; k++)
            _elementSizes[k] = (k < p.Inputs.Length ? p.Inputs[k] : p.Outputs[k - p.Inputs.Length]).Size();
    }

    public override string Name => ElementwiseKernel.KernelName;
    public ElementwiseProgram Program => _portable.Program;

    public override void Validate(in DispatchState d) => _portable.Validate(d);

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) => _portable.WorkgroupCount(d, env);

    // No scratch: the generated code keeps registers in locals.

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        int operands = _elementSizes.Length;
        int rank = Math.Max(Program.Rank, 1);
        Span<long> sizes = stackalloc long[rank];
        Span<long> strides = stackalloc long[rank * operands]; // strides[dim * operands + k]
        int dims = Coalesce(d, sizes, strides);
        long total = 1;
        for (int i = 0; i < dims; i++) total *= sizes[i];
        long start = wg.X * ElementwiseKernel.ChunkElements, end = Math.Min(total, start + ElementwiseKernel.ChunkElements);

        Span<long> index = stackalloc long[dims];
        long rem = start;
        for (int i = dims - 1; i >= 0; i--)
        {
            index[i] = rem % sizes[i];
            rem /= sizes[i];
        }
        byte** pointers = stackalloc byte*[operands];
        long* inner = stackalloc long[operands];
        for (int k = 0; k < operands; k++) inner[k] = strides[(dims - 1) * operands + k];
        long rowLength = sizes[dims - 1];
        for (long pos = start; pos < end;)
        {
            for (int k = 0; k < operands; k++)
            {
                long offset = d.Constant(Program.OperandConstants(k));
                for (int i = 0; i < dims; i++) offset += index[i] * strides[i * operands + k];
                pointers[k] = d.Binding(k).Data + offset * _elementSizes[k];
            }
            long n = Math.Min(end - pos, rowLength - index[dims - 1]);
            _row(pointers, inner, n);
            pos += n;
            index[dims - 1] += n;
            for (int i = dims - 1; i > 0 && index[i] == sizes[i]; i--)
            {
                index[i] = 0;
                index[i - 1]++;
            }
        }
    }

    /// <summary>
    /// The iteration space with size-1 dimensions dropped and each dimension merged into the one
    /// outside it where every operand steps through both as through one (outer stride = inner stride ×
    /// inner size), visiting the same elements in the same order. Returns the number of dimensions (≥ 1).
    /// </summary>
    private int Coalesce(in DispatchState d, Span<long> sizes, Span<long> strides)
    {
        int operands = _elementSizes.Length;
        int dims = 0;
        for (int i = 0; i < Program.Rank; i++)
        {
            long n = d.Constant(i);
            if (n == 1) continue;
            bool merge = dims > 0;
            for (int k = 0; k < operands && merge; k++)
                merge = strides[(dims - 1) * operands + k] == (Int128)Stride(d, k, i) * n; // Int128: no overflow can fake a match
            if (merge) sizes[dims - 1] *= n;
            else sizes[dims++] = n;
            for (int k = 0; k < operands; k++) strides[(dims - 1) * operands + k] = Stride(d, k, i);
        }
        if (dims == 0)
        {
            sizes[0] = 1;
            strides[..operands].Clear();
            dims = 1;
        }
        return dims;
    }

    private long Stride(in DispatchState d, int operand, int dim) => d.Constant(Program.OperandConstants(operand) + 1 + dim);
}
