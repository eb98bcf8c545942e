using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Kernels.Support;

namespace Kiln.Runtime.Kernels.Resize;

/// <summary>
/// The portable "resize-nearest" kernel (<see cref="ResizeDescriptor"/>, mode nearest): every
/// output element copies the bits of one input element (exact for every dtype), or takes the
/// fill value outside a tf_crop_and_resize region. Work items are output rows (all axes but the
/// last); a row that reads the same input row as the one before it is a copy of that output row
/// (vertical upsampling), and an integer horizontal upscale of 4-byte elements is a vector shuffle.
/// </summary>
public sealed unsafe class ResizeNearestKernel : Kernel
{
    public const string KernelName = "resize-nearest";

    private readonly ResizeDescriptor _r;

    private ResizeNearestKernel(ResizeDescriptor r) => _r = r;

    public static Kernel Load(ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount)
    {
        var r = ResizeDescriptor.Decode(descriptor, KernelName);
        if (r.Sampling.Mode != ResizeMethod.Nearest || r.PassAxis != ResizeDescriptor.NoPassAxis)
            throw new KilnRuntimeException(StatusCode.InvalidModule, $"{KernelName}: the descriptor is not a nearest resize");
        if (bindingCount != r.BindingCount || constantCount != r.ConstantCount)
            throw new KilnRuntimeException(StatusCode.InvalidModule, $"{KernelName}: {bindingCount} bindings and {constantCount} constants; the descriptor needs {r.BindingCount} and {r.ConstantCount}");
        return new ResizeNearestKernel(r);
    }

    public override string Name => KernelName;

    public override void Validate(in DispatchState d)
    {
        ResizeTables.ValidateParameters(KernelName, _r, d);
        KernelChecks.Holds(KernelName, d, 0, KernelChecks.Product(KernelName, ResizeTables.Input(d, _r)), _r.DType.Size(), "X");
        KernelChecks.Holds(KernelName, d, _r.OutputBinding, KernelChecks.Product(KernelName, ResizeTables.Output(d, _r)), _r.DType.Size(), "Y");
    }

    private static long Rows(ReadOnlySpan<long> output)
    {
        long rows = 1;
        for (int a = 0; a < output.Length - 1; a++) rows *= output[a];
        return output[^1] == 0 ? 0 : rows;
    }

    public override (int X, int Y, int Z) WorkgroupCount(in DispatchState d, KernelEnvironment env)
    {
        var output = ResizeTables.Output(d, _r);
        return (WorkSplit.Groups(Rows(output), output[^1], env), 1, 1);
    }

    /// <summary>The tables, then the source index of every output along the last axis (−1: fill).</summary>
    public override int ScratchBytes(in DispatchState d) =>
        ResizeTables.ScratchBytes(_r, d) + (int)ResizeTables.Output(d, _r)[^1] * sizeof(int);

    public override void Run(KernelEnvironment env, in DispatchState d, in WorkgroupState wg)
    {
        switch (_r.DType.Size())
        {
            case 1: Run<byte>(d, wg); break;
            case 2: Run<ushort>(d, wg); break;
            case 4: Run<uint>(d, wg); break;
            default: Run<ulong>(d, wg); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Run<T>(in DispatchState d, in WorkgroupState wg) where T : unmanaged
    {
        int rank = _r.Rank, last = rank - 1;
        var input = ResizeTables.Input(d, _r);
        var output = ResizeTables.Output(d, _r);
        Span<AxisTable> tables = stackalloc AxisTable[rank];
        ResizeTables.Build(_r, d, wg.Scratch, tables);
        int width = (int)output[last];
        int* lastIndex = (int*)(wg.Scratch + ResizeTables.ScratchBytes(_r, d));
        for (int j = 0; j < width; j++) lastIndex[j] = SourceIndex(tables[last], j);
        int factor = UpscaleFactor(lastIndex, width, input[last]);

        Span<long> inStride = stackalloc long[rank];
        inStride[last] = 1;
        for (int a = last - 1; a >= 0; a--) inStride[a] = inStride[a + 1] * input[a + 1];
        Span<long> coord = stackalloc long[rank];
        T* x = (T*)d.Binding(0).Data, y = (T*)d.Binding(_r.OutputBinding).Data;
        long fillBits = _r.FillBits;
        T fill = *(T*)&fillBits;
        var (start, end) = WorkSplit.Range(wg.X, d.WorkgroupCountX, Rows(output));
        long previousSource = long.MinValue, rest = start;
        for (int a = last - 1; a >= 0; a--) { coord[a] = rest % output[a]; rest /= output[a]; }
        for (long row = start; row < end; row++, Next(coord[..last], output))
        {
            long source = 0;
            for (int a = 0; a < last && source >= 0; a++)
            {
                int i = SourceIndex(tables[a], coord[a]);
                source = i < 0 ? -1 : source + i * inStride[a];
            }
            T* target = y + row * width;
            if (source == previousSource) new ReadOnlySpan<T>(target - width, width).CopyTo(new Span<T>(target, width));
            else if (source < 0) new Span<T>(target, width).Fill(fill);
            else GatherRow(target, x + source, lastIndex, width, factor, fill);
            previousSource = source;
        }
    }

    private static void Next(Span<long> coord, ReadOnlySpan<long> sizes)
    {
        for (int a = coord.Length - 1; a >= 0; a--)
        {
            if (++coord[a] < sizes[a]) return;
            coord[a] = 0;
        }
    }

    /// <summary>The input index output coordinate o reads along an axis, −1 outside the region.</summary>
    private static int SourceIndex(in AxisTable t, long o) => !t.Resized ? (int)o : t.Outside[o] ? -1 : t.Index[o];

    /// <summary>f when output j reads input j / f for every j and the row is exactly f times longer; 0 otherwise.</summary>
    private static int UpscaleFactor(int* index, int width, long input)
    {
        if (input == 0 || width % input != 0) return 0;
        int f = (int)(width / input);
        for (int j = 0; j < width; j++)
            if (index[j] != j / f) return 0;
        return f;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GatherRow<T>(T* target, T* source, int* index, int width, int factor, T fill) where T : unmanaged
    {
        if (factor == 1)
        {
            new ReadOnlySpan<T>(source, width).CopyTo(new Span<T>(target, width));
            return;
        }
        int j = 0;
        if (factor > 1 && sizeof(T) == 4) j = Replicate((uint*)target, (uint*)source, width, factor);
        for (; j < width; j++) target[j] = index[j] < 0 ? fill : source[index[j]];
    }

    /// <summary>
    /// Integer upscale of a row of 4-byte elements: each vector of outputs is one vector of
    /// inputs shuffled by lane / factor. Returns how many outputs it wrote; loads stay inside the row.
    /// </summary>
    private static int Replicate(uint* target, uint* source, int width, int factor)
    {
        int inputs = width / factor, j = 0, i = 0;
        if (Vector512.IsHardwareAccelerated && Vector512<uint>.Count % factor == 0)
        {
            var lanes = Vector512<uint>.Indices / Vector512.Create((uint)factor);
            for (int step = Vector512<uint>.Count; i + step <= inputs && j + step <= width; j += step, i += step / factor)
                Vector512.Shuffle(Vector512.Load(source + i), lanes).Store(target + j);
        }
        if (Vector256.IsHardwareAccelerated && Vector256<uint>.Count % factor == 0)
        {
            var lanes = Vector256<uint>.Indices / Vector256.Create((uint)factor);
            for (int step = Vector256<uint>.Count; i + step <= inputs && j + step <= width; j += step, i += step / factor)
                Vector256.Shuffle(Vector256.Load(source + i), lanes).Store(target + j);
        }
        return j;
    }
}
