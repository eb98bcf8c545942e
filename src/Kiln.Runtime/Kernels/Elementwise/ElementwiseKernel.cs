using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Elementwise;

/// <summary>
/// The portable "elementwise" kernel: interprets an <see cref="ElementwiseProgram"/> over tiles of
/// <see cref="Tile"/> consecutive output elements, one instruction at a time over the whole tile
/// (vector loops via TensorPrimitives where they are exact enough), so interpretation costs a
/// switch per instruction per tile, not per element. Workgroups are chunks of the flattened output.
/// </summary>
public sealed unsafe class ElementwiseKernel : Kernel
{
    public const string KernelName = "elementwise";
    public const int Tile = 256;
    /// <summary>Elements per workgroup (the IL-rendered kernel splits work the same way).</summary>
    internal const long ChunkElements = 32 * 1024;

    private readonly ElementwiseProgram _program;
    // Codecs of the small float formats the program touches, by dtype code (instance state: no process globals).
    private readonly Numerics.SmallFloatFormat?[] _formats = new Numerics.SmallFloatFormat?[32];

    public ElementwiseKernel(ElementwiseProgram program)
    {
        _program = program;
        // Loops, not lambdas: a non-capturing lambda's delegate cache is a static field.
        foreach (var d in program.Inputs) _formats[(int)d] ??= Numerics.SmallFloatFormat.For(d);
        foreach (var d in program.Outputs) _formats[(int)d] ??= Numerics.SmallFloatFormat.For(d);
        foreach (var i in program.Instructions)
            if (i.Op == EwOp.RoundTo) _formats[i.Aux] ??= Numerics.SmallFloatFormat.For((DType)i.Aux);
    }

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var p = ElementwiseProgram.Decode(descriptor);
        if (bindingCount != p.Inputs.Length + p.Outputs.Length)
            throw new KilnRuntimeException(StatusCode.InvalidModule, $"elementwise kernel has {bindingCount} bindings; its program needs {p.Inputs.Length + p.Outputs.Length}");
        if (constantCount != p.ConstantCount)
            throw new KilnRuntimeException(StatusCode.InvalidModule, $"elementwise kernel has {constantCount} constants; its program needs {p.ConstantCount}");
        return new ElementwiseKernel(p);
    }

    public override string Name => KernelName;
    public ElementwiseProgram Program => _program;

    public override void Validate(in DispatchState d)
    {
        int operands = _program.Inputs.Length + _program.Outputs.Length;
        if (d.BindingCount != operands || d.ConstantCount != _program.ConstantCount)
            throw OutOfRange($"elementwise: dispatched with {d.BindingCount} bindings and {d.ConstantCount} constants; the program needs {operands} and {_program.ConstantCount}");
        int rank = _program.Rank;
        long total = 1;
        for (int i = 0; i < rank; i++)
        {
            long n = d.Constant(i);
            if (n < 0) throw OutOfRange($"elementwise: negative size {n}");
            total = n == 0 ? 0 : total > long.MaxValue / n ? throw OutOfRange("elementwise: size overflows") : total * n;
        }
        if (total == 0) return;
        for (int k = 0; k < operands; k++)
        {
            // The lowest and highest element the operand touches must lie inside its binding.
            int c = _program.OperandConstants(k);
            long lo = d.Constant(c), hi = lo;
            for (int i = 0; i < rank; i++)
            {
                long stride = d.Constant(c + 1 + i);
                if (Math.Abs(stride) > (1L << 40)) throw OutOfRange($"elementwise: operand {k} has invalid stride {stride}");
                long reach;
                try { reach = checked((d.Constant(i) - 1) * stride); if (reach < 0) lo = checked(lo + reach); else hi = checked(hi + reach); }
                catch (OverflowException) { throw OutOfRange($"elementwise: operand {k} offsets overflow"); }
            }
            var dtype = k < _program.Inputs.Length ? _program.Inputs[k] : _program.Outputs[k - _program.Inputs.Length];
            if (lo < 0 || checked((hi + 1) * dtype.Size()) > d.Binding(k).Length)
                throw OutOfRange($"elementwise: operand {k} reaches elements {lo}..{hi}, outside its binding of {d.Binding(k).Length} bytes");
        }
    }

    private long Total(in DispatchState d)
    {
        long total = 1;
        for (int i = 0; i < _program.Rank; i++) total *= d.Constant(i);
        return total;
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env) =>
        ((int)((Total(d) + ChunkElements - 1) / ChunkElements), 1, 1);

    public override int ScratchBytes(in DispatchState d) => _program.RegisterCount * Tile * sizeof(long);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        long total = Total(d);
        long start = wg.X * ChunkElements, end = Math.Min(total, start + ChunkElements);
        var regs = new Span<long>(wg.Scratch, _program.RegisterCount * Tile);
        int rank = _program.Rank;
        Span<long> index = stackalloc long[Math.Max(rank, 1)];
        for (long s = start; s < end; s += Tile)
        {
            int n = (int)Math.Min(Tile, end - s);
            // Coordinates of the tile's first element.
            long rem = s;
            for (int i = rank - 1; i >= 0; i--)
            {
                long size = d.Constant(i);
                index[i] = rem % size;
                rem /= size;
            }
            RunTile(d, regs, index, n);
        }
    }

    private void RunTile(in DispatchState d, Span<long> regs, ReadOnlySpan<long> firstIndex, int n)
    {
        foreach (var ins in _program.Instructions)
        {
            switch (ins.Op)
            {
                case EwOp.Load: Load(d, ins.Aux, Slot(regs, ins.Dst), firstIndex, n); break;
                case EwOp.Store: Store(d, ins.Aux, Slot(regs, ins.A), firstIndex, n); break;
                case EwOp.Const:
                    var dst = Slot(regs, ins.Dst);
                    switch (ins.Type)
                    {
                        case ComputeType.F32: F32(dst, n).Fill(BitConverter.Int32BitsToSingle((int)ins.Immediate)); break;
                        default: dst[..n].Fill(ins.Immediate); break; // F64 bits and I64 alike
                    }
                    break;
                case EwOp.Cast: Cast(ins, Slot(regs, ins.A), Slot(regs, ins.Dst), n); break;
                case EwOp.RoundTo: RoundTo(ins, F32(Slot(regs, ins.A), n), F32(Slot(regs, ins.Dst), n)); break;
                default:
                    if (ins.Type == ComputeType.I64) IntegerOps.Execute(ins, regs, n);
                    else if (ins.Type == ComputeType.F32) FloatOps<float>.Execute(ins, regs, n);
                    else FloatOps<double>.Execute(ins, regs, n);
                    break;
            }
        }
    }

    internal static Span<long> Slot(Span<long> regs, int r) => regs.Slice(r * Tile, Tile);
    internal static Span<float> F32(Span<long> slot, int n) => MemoryMarshal.Cast<long, float>(slot)[..n];
    internal static Span<double> F64(Span<long> slot, int n) => MemoryMarshal.Cast<long, double>(slot)[..n];

    /// <summary>Gathers n elements of input k for the tile, converting to the compute type. Walks the tile row by row along the innermost dimension.</summary>
    private void Load(in DispatchState d, int k, Span<long> slot, ReadOnlySpan<long> firstIndex, int n)
    {
        int rank = _program.Rank;
        var dtype = _program.Inputs[k];
        byte* basePtr = d.Binding(k).Data;
        int size = dtype.Size();
        int c = _program.OperandConstants(k);
        if (rank == 0) { Convert(dtype, basePtr + d.Constant(c) * size, 0, slot, 0, 1); return; }
        Span<long> index = stackalloc long[rank];
        firstIndex.CopyTo(index);
        long innerSize = d.Constant(rank - 1), innerStride = d.Constant(c + rank);
        int pos = 0;
        while (pos < n)
        {
            long offset = d.Constant(c);
            for (int i = 0; i < rank; i++) offset += index[i] * d.Constant(c + 1 + i);
            int seg = (int)Math.Min(n - pos, innerSize - index[rank - 1]);
            Convert(dtype, basePtr + offset * size, innerStride, slot, pos, seg);
            pos += seg;
            index[rank - 1] += seg;
            for (int i = rank - 1; i > 0 && index[i] >= d.Constant(i); i--) { index[i] = 0; index[i - 1]++; }
        }
    }

    /// <summary>Reads count elements at src with an element stride into slot[pos..], converted to the compute type.</summary>
    private void Convert(DType dtype, byte* src, long stride, Span<long> slot, int pos, int count)
    {
        switch (dtype)
        {
            case DType.Float8E8M0:
            {
                var dst = MemoryMarshal.Cast<long, float>(slot).Slice(pos, count);
                for (int i = 0; i < count; i++) dst[i] = Numerics.E8M0.Decode(src[i * stride]);
                break;
            }
            case DType.Float8E4M3FN or DType.Float8E4M3FNUZ or DType.Float8E5M2 or DType.Float8E5M2FNUZ or DType.Float4E2M1:
            {
                var f = _formats[(int)dtype]!;
                var dst = MemoryMarshal.Cast<long, float>(slot).Slice(pos, count);
                for (int i = 0; i < count; i++) dst[i] = f.Decode(src[i * stride]);
                break;
            }
            case DType.Float32:
            {
                var dst = MemoryMarshal.Cast<long, float>(slot).Slice(pos, count);
                if (stride == 1) new ReadOnlySpan<float>(src, count).CopyTo(dst);
                else if (stride == 0) dst.Fill(*(float*)src);
                else for (int i = 0; i < count; i++) dst[i] = ((float*)src)[i * stride];
                break;
            }
            case DType.Float64:
            {
                var dst = MemoryMarshal.Cast<long, double>(slot).Slice(pos, count);
                if (stride == 1) new ReadOnlySpan<double>(src, count).CopyTo(dst);
                else for (int i = 0; i < count; i++) dst[i] = ((double*)src)[i * stride];
                break;
            }
            case DType.Float16:
            {
                var dst = MemoryMarshal.Cast<long, float>(slot).Slice(pos, count);
                if (stride == 1) TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(src, count), dst);
                else for (int i = 0; i < count; i++) dst[i] = (float)((Half*)src)[i * stride];
                break;
            }
            case DType.BFloat16:
            {
                var dst = MemoryMarshal.Cast<long, float>(slot).Slice(pos, count);
                for (int i = 0; i < count; i++) dst[i] = ScalarMath.ToBFloat16Float(((ushort*)src)[i * stride]);
                break;
            }
            default:
            {
                var dst = slot.Slice(pos, count);
                switch (dtype)
                {
                    case DType.Int64 or DType.UInt64:
                        if (stride == 1) new ReadOnlySpan<long>(src, count).CopyTo(dst);
                        else for (int i = 0; i < count; i++) dst[i] = ((long*)src)[i * stride];
                        break;
                    case DType.Int32: for (int i = 0; i < count; i++) dst[i] = ((int*)src)[i * stride]; break;
                    case DType.UInt32: for (int i = 0; i < count; i++) dst[i] = ((uint*)src)[i * stride]; break;
                    case DType.Int16: for (int i = 0; i < count; i++) dst[i] = ((short*)src)[i * stride]; break;
                    case DType.UInt16: for (int i = 0; i < count; i++) dst[i] = ((ushort*)src)[i * stride]; break;
                    case DType.Int8 or DType.Int4 or DType.Int2: for (int i = 0; i < count; i++) dst[i] = ((sbyte*)src)[i * stride]; break;
                    case DType.Bool: for (int i = 0; i < count; i++) dst[i] = src[i * stride] != 0 ? 1 : 0; break;
                    default: for (int i = 0; i < count; i++) dst[i] = src[i * stride]; break; // UInt8
                }
                break;
            }
        }
    }

    /// <summary>Writes n computed elements of the tile to output k, row by row along the innermost dimension.</summary>
    private void Store(in DispatchState d, int k, Span<long> slot, ReadOnlySpan<long> firstIndex, int n)
    {
        int rank = _program.Rank;
        var dtype = _program.Outputs[k];
        int size = dtype.Size();
        int c = _program.OperandConstants(_program.Inputs.Length + k);
        byte* basePtr = d.Binding(_program.Inputs.Length + k).Data;
        if (rank == 0) { Write(dtype, slot, 0, basePtr + d.Constant(c) * size, 0, 1); return; }
        Span<long> index = stackalloc long[rank];
        firstIndex.CopyTo(index);
        long innerSize = d.Constant(rank - 1), innerStride = d.Constant(c + rank);
        int pos = 0;
        while (pos < n)
        {
            long offset = d.Constant(c);
            for (int i = 0; i < rank; i++) offset += index[i] * d.Constant(c + 1 + i);
            int seg = (int)Math.Min(n - pos, innerSize - index[rank - 1]);
            Write(dtype, slot, pos, basePtr + offset * size, innerStride, seg);
            pos += seg;
            index[rank - 1] += seg;
            for (int i = rank - 1; i > 0 && index[i] >= d.Constant(i); i--) { index[i] = 0; index[i - 1]++; }
        }
    }

    /// <summary>Writes count elements of slot[pos..] to dst with an element stride, converted from the compute type to the dtype.</summary>
    private void Write(DType dtype, Span<long> slot, int pos, byte* dst, long stride, int count)
    {
        switch (dtype)
        {
            case DType.Float8E8M0:
            {
                var src = MemoryMarshal.Cast<long, float>(slot).Slice(pos, count);
                for (int i = 0; i < count; i++) dst[i * stride] = Numerics.E8M0.Encode(src[i], Numerics.E8M0Rounding.Up, saturate: true);
                break;
            }
            case DType.Float8E4M3FN or DType.Float8E4M3FNUZ or DType.Float8E5M2 or DType.Float8E5M2FNUZ or DType.Float4E2M1:
            {
                var f = _formats[(int)dtype]!;
                var src = MemoryMarshal.Cast<long, float>(slot).Slice(pos, count);
                // Values reaching a store are already in the format (the compiler rounds with RoundTo first),
                // so encoding is exact; no saturation, so an infinity or NaN the rounding produced survives.
                for (int i = 0; i < count; i++) dst[i * stride] = f.Encode(src[i], saturate: false);
                break;
            }
            case DType.Float32:
            {
                var src = MemoryMarshal.Cast<long, float>(slot).Slice(pos, count);
                if (stride == 1) src.CopyTo(new Span<float>(dst, count));
                else for (int i = 0; i < count; i++) ((float*)dst)[i * stride] = src[i];
                break;
            }
            case DType.Float64:
            {
                var src = MemoryMarshal.Cast<long, double>(slot).Slice(pos, count);
                for (int i = 0; i < count; i++) ((double*)dst)[i * stride] = src[i];
                break;
            }
            case DType.Float16:
            {
                var src = MemoryMarshal.Cast<long, float>(slot).Slice(pos, count);
                if (stride == 1) TensorPrimitives.ConvertToHalf(src, new Span<Half>(dst, count));
                else for (int i = 0; i < count; i++) ((Half*)dst)[i * stride] = (Half)src[i];
                break;
            }
            case DType.BFloat16:
            {
                var src = MemoryMarshal.Cast<long, float>(slot).Slice(pos, count);
                for (int i = 0; i < count; i++) ((ushort*)dst)[i * stride] = ScalarMath.FromFloatToBFloat16(src[i]);
                break;
            }
            default:
            {
                var src = slot.Slice(pos, count);
                switch (dtype.Size())
                {
                    case 8:
                        if (stride == 1) src.CopyTo(new Span<long>(dst, count));
                        else for (int i = 0; i < count; i++) ((long*)dst)[i * stride] = src[i];
                        break;
                    case 4: for (int i = 0; i < count; i++) ((int*)dst)[i * stride] = unchecked((int)src[i]); break;
                    case 2: for (int i = 0; i < count; i++) ((short*)dst)[i * stride] = unchecked((short)src[i]); break;
                    default:
                        if (dtype == DType.Bool) for (int i = 0; i < count; i++) dst[i * stride] = src[i] != 0 ? (byte)1 : (byte)0;
                        else for (int i = 0; i < count; i++) dst[i * stride] = unchecked((byte)src[i]);
                        break;
                }
                break;
            }
        }
    }

    /// <summary>Rounds float32 values to a narrower format's nearest representable values (what storing and reloading would give).</summary>
    private void RoundTo(EwInstruction ins, Span<float> src, Span<float> dst)
    {
        var dtype = (DType)ins.Aux;
        bool saturate = (ins.Flags & 1) == 0;
        switch (dtype)
        {
            case DType.Float16: for (int i = 0; i < src.Length; i++) dst[i] = (float)(Half)src[i]; break;
            case DType.BFloat16: for (int i = 0; i < src.Length; i++) dst[i] = ScalarMath.ToBFloat16Float(ScalarMath.FromFloatToBFloat16(src[i])); break;
            case DType.Float8E8M0:
            {
                var mode = (Numerics.E8M0Rounding)((ins.Flags >> 1) & 3);
                for (int i = 0; i < src.Length; i++) dst[i] = Numerics.E8M0.Decode(Numerics.E8M0.Encode(src[i], mode, saturate));
                break;
            }
            default:
            {
                var f = _formats[(int)dtype]!;
                for (int i = 0; i < src.Length; i++) dst[i] = f.Round(src[i], saturate);
                break;
            }
        }
    }

    private static void Cast(EwInstruction ins, Span<long> src, Span<long> dst, int n)
    {
        var to = (ComputeType)ins.Aux;
        bool unsigned = (ins.Flags & 1) != 0;
        switch (ins.Type, to)
        {
            case (ComputeType.F32, ComputeType.F32) or (ComputeType.F64, ComputeType.F64) or (ComputeType.I64, ComputeType.I64):
                src[..n].CopyTo(dst); break;
            case (ComputeType.F32, ComputeType.F64): { var s = F32(src, n); var t = F64(dst, n); for (int i = n - 1; i >= 0; i--) t[i] = s[i]; break; }
            case (ComputeType.F64, ComputeType.F32): { var s = F64(src, n); var t = F32(dst, n); for (int i = 0; i < n; i++) t[i] = (float)s[i]; break; }
            case (ComputeType.F32, ComputeType.I64): { var s = F32(src, n); for (int i = 0; i < n; i++) dst[i] = ScalarMath.FloatToLong(s[i], unsigned); break; }
            case (ComputeType.F64, ComputeType.I64): { var s = F64(src, n); for (int i = 0; i < n; i++) dst[i] = ScalarMath.FloatToLong(s[i], unsigned); break; }
            case (ComputeType.I64, ComputeType.F32): { var t = F32(dst, n); for (int i = 0; i < n; i++) t[i] = unsigned ? (float)(ulong)src[i] : src[i]; break; }
            case (ComputeType.I64, ComputeType.F64): { var t = F64(dst, n); for (int i = 0; i < n; i++) t[i] = unsigned ? (double)(ulong)src[i] : src[i]; break; }
        }
    }
}
