using System.Runtime.CompilerServices;
using Kiln.Runtime.Format;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Vm;

/// <summary>
/// The "hal" native module: what host programs call to inspect input tensors, get the arena,
/// constant segments and output buffers, record dispatches and small buffer updates, and read
/// values back. Every range is checked here, when it enters a command; kernels then check their
/// bindings against their constants. (V = value arguments, R = object arguments.)
/// </summary>
internal static unsafe class HalModule
{
    public static NativeModule Create() => new("hal",
    [
        // view.check(R view; V dtype, V rank): fails with a clear message on mismatch.
        new("view.check", 2, 1, 0, 0, ImportFlags.None, new NativeFunction(ViewCheck)),
        // view.dim(R view; V axis) -> V size
        new("view.dim", 1, 1, 1, 0, ImportFlags.None, new NativeFunction(ViewDim)),
        // view.buffer(R view) -> R buffer;  view.offset(R view) -> V
        new("view.buffer", 0, 1, 0, 1, ImportFlags.None, new NativeFunction(ViewBuffer)),
        new("view.offset", 0, 1, 1, 0, ImportFlags.None, new NativeFunction(ViewOffset)),
        // view.create(R buffer; V offset, V dtype, V dims...) -> R view
        new("view.create", 2, 1, 0, 1, ImportFlags.VariadicValues, new NativeFunction(ViewCreate)),
        // buffer.arena(V size) -> R: this invocation's planned arena (reused across calls)
        new("buffer.arena", 1, 0, 0, 1, ImportFlags.None, new NativeFunction(BufferArena)),
        // buffer.allocate(V size) -> R: a new buffer the caller will own (outputs)
        new("buffer.allocate", 1, 0, 0, 1, ImportFlags.None, new NativeFunction(BufferAllocate)),
        // buffer.constant(V segment) -> R: a constant segment, in place
        new("buffer.constant", 1, 0, 0, 1, ImportFlags.None, new NativeFunction(BufferConstant)),
        new("buffer.length", 0, 1, 1, 0, ImportFlags.None, new NativeFunction(BufferLength)),
        // buffer.load(R buffer; V offset, V dtype) -> V: waits for pending work, reads one element as i64
        new("buffer.load", 2, 1, 1, 0, ImportFlags.None, new NativeFunction(BufferLoad)),
        // buffer.store(R buffer; V offset, V dtype, V value): records a write of one element
        new("buffer.store", 3, 1, 0, 0, ImportFlags.None, new NativeFunction(BufferStore)),
        // buffer.copy(R source, R destination; V sourceOffset, V destinationOffset, V length)
        new("buffer.copy", 3, 2, 0, 0, ImportFlags.None, new NativeFunction(BufferCopy)),
        // dispatch(R buffers...; V executable, V ordinal, V bindings, (V offset, V length) per binding, V constants...)
        new("dispatch", 3, 0, 0, 0, ImportFlags.VariadicValues | ImportFlags.VariadicRefs, new NativeFunction(Dispatch)),
        new("barrier", 0, 0, 0, 0, ImportFlags.None, new NativeFunction(Barrier)),
        new("flush", 0, 0, 0, 0, ImportFlags.None, new NativeFunction(Flush)),
    ]);

    // Delegates are created explicitly (once per instance): a method-group conversion would be
    // cached by the compiler in a hidden static field, which is process-global state.
    private static void Barrier(ref NativeCall c) => c.Invocation.Commands.Barrier();
    private static void Flush(ref NativeCall c) => c.Invocation.Flush();

    private static void ViewCheck(ref NativeCall c)
    {
        var view = c.Ref<BufferView>(0, "hal.view.check");
        if ((long)view.DType != c.Values[0])
            throw new KilnRuntimeException(StatusCode.InvalidArgument, $"tensor {view} must have dtype {((DType)c.Values[0]).Name()}");
        if (view.Rank != c.Values[1])
            throw new KilnRuntimeException(StatusCode.InvalidArgument, $"tensor {view} must have rank {c.Values[1]}");
    }

    private static void ViewDim(ref NativeCall c)
    {
        var view = c.Ref<BufferView>(0, "hal.view.dim");
        long axis = c.Values[0];
        if ((ulong)axis >= (ulong)view.Rank) throw new KilnRuntimeException(StatusCode.OutOfRange, $"hal.view.dim: axis {axis} of a rank-{view.Rank} tensor");
        c.ValueResults[0] = view.Shape[(int)axis];
    }

    private static void ViewBuffer(ref NativeCall c) => c.RefResults[0] = c.Ref<BufferView>(0, "hal.view.buffer").Buffer;
    private static void ViewOffset(ref NativeCall c) => c.ValueResults[0] = c.Ref<BufferView>(0, "hal.view.offset").Offset;

    private static void ViewCreate(ref NativeCall c)
    {
        var buffer = c.Ref<DeviceBuffer>(0, "hal.view.create");
        long dtype = c.Values[1];
        if (!DTypes.IsValid((int)Math.Clamp(dtype, 0, 255)) || dtype > 255)
            throw new KilnRuntimeException(StatusCode.InvalidArgument, $"hal.view.create: unknown dtype {dtype}");
        if (c.Values.Length - 2 > Format.ModuleFormat.MaxRank) throw new KilnRuntimeException(StatusCode.InvalidArgument, $"hal.view.create: rank {c.Values.Length - 2} exceeds {Format.ModuleFormat.MaxRank}");
        c.RefResults[0] = new BufferView(buffer, c.Values[0], (DType)dtype, c.Values[2..].ToArray());
    }

    private static void BufferArena(ref NativeCall c) => c.RefResults[0] = c.Invocation.GetArena(CheckSize(c.Values[0], "hal.buffer.arena"));
    private static void BufferAllocate(ref NativeCall c)
    {
        long size = CheckSize(c.Values[0], "hal.buffer.allocate");
        c.Invocation.CheckAllocation(size, "hal.buffer.allocate");
        c.RefResults[0] = DeviceBuffer.AllocateManaged(size, c.Invocation.Context.Outputs);
    }

    private static void BufferConstant(ref NativeCall c)
    {
        var constants = c.Invocation.Context.Constants;
        long i = c.Values[0];
        if ((ulong)i >= (ulong)constants.Length) throw new KilnRuntimeException(StatusCode.OutOfRange, $"hal.buffer.constant: segment {i} of {constants.Length}");
        c.RefResults[0] = constants[i];
    }

    private static void BufferLength(ref NativeCall c) => c.ValueResults[0] = c.Ref<DeviceBuffer>(0, "hal.buffer.length").Length;

    private static void BufferLoad(ref NativeCall c)
    {
        var b = c.Ref<DeviceBuffer>(0, "hal.buffer.load");
        var dtype = CheckDType(c.Values[1], "hal.buffer.load");
        b.CheckRange(c.Values[0], dtype.Size(), "hal.buffer.load");
        c.Invocation.Flush();
        byte* p = b.Pointer + c.Values[0];
        c.ValueResults[0] = dtype switch
        {
            DType.Int64 or DType.UInt64 => Unsafe.ReadUnaligned<long>(p),
            DType.Int32 => Unsafe.ReadUnaligned<int>(p),
            DType.UInt32 => Unsafe.ReadUnaligned<uint>(p),
            DType.Int16 => Unsafe.ReadUnaligned<short>(p),
            DType.UInt16 => Unsafe.ReadUnaligned<ushort>(p),
            DType.Int8 => *(sbyte*)p,
            DType.Bool => *p != 0 ? 1 : 0,
            DType.UInt8 => *p,
            DType.Float32 => (long)Unsafe.ReadUnaligned<float>(p),
            DType.Float64 => (long)Unsafe.ReadUnaligned<double>(p),
            _ => throw new KilnRuntimeException(StatusCode.Unsupported, $"hal.buffer.load: cannot read {dtype.Name()} as an integer"),
        };
    }

    private static void BufferStore(ref NativeCall c)
    {
        var b = c.Ref<DeviceBuffer>(0, "hal.buffer.store");
        var dtype = CheckDType(c.Values[1], "hal.buffer.store");
        b.CheckRange(c.Values[0], dtype.Size(), "hal.buffer.store");
        long value = c.Values[2];
        Span<byte> bytes = stackalloc byte[8];
        switch (dtype)
        {
            case DType.Float32: Unsafe.WriteUnaligned(ref bytes[0], (float)value); break;
            case DType.Float64: Unsafe.WriteUnaligned(ref bytes[0], (double)value); break;
            case DType.Bool: bytes[0] = value != 0 ? (byte)1 : (byte)0; break;
            default: Unsafe.WriteUnaligned(ref bytes[0], value); break; // little-endian: the low bytes
        }
        c.Invocation.Commands.Update(b.Pointer + c.Values[0], bytes[..dtype.Size()]);
    }

    private static void BufferCopy(ref NativeCall c)
    {
        var src = c.Ref<DeviceBuffer>(0, "hal.buffer.copy");
        var dst = c.Ref<DeviceBuffer>(1, "hal.buffer.copy");
        long so = c.Values[0], doff = c.Values[1], len = c.Values[2];
        src.CheckRange(so, len, "hal.buffer.copy source");
        dst.CheckRange(doff, len, "hal.buffer.copy destination");
        c.Invocation.Commands.Copy(src.Pointer + so, dst.Pointer + doff, len);
    }

    private static void Dispatch(ref NativeCall c)
    {
        var inv = c.Invocation;
        var executables = inv.Context.Executables;
        long exe = c.Values[0], ordinal = c.Values[1], count = c.Values[2];
        if ((ulong)exe >= (ulong)executables.Length) throw new KilnRuntimeException(StatusCode.OutOfRange, $"hal.dispatch: executable {exe} of {executables.Length}");
        var kernels = executables[exe].Kernels;
        if ((ulong)ordinal >= (ulong)kernels.Count) throw new KilnRuntimeException(StatusCode.OutOfRange, $"hal.dispatch: kernel {ordinal} of {kernels.Count}");
        if (count != c.Refs.Length || 3 + 2 * count > c.Values.Length)
            throw new KilnRuntimeException(StatusCode.InvalidArgument, $"hal.dispatch: {count} bindings declared, {c.Refs.Length} buffers and {c.Values.Length} values given");
        var kernel = kernels[(int)ordinal];
        if (inv.ScratchBindings.Length < count) inv.ScratchBindings = new Binding[count];
        var bindings = inv.ScratchBindings.AsSpan(0, (int)count);
        for (int i = 0; i < count; i++)
        {
            var buffer = c.Ref<DeviceBuffer>(i, "hal.dispatch");
            long offset = c.Values[3 + 2 * i], length = c.Values[4 + 2 * i];
            buffer.CheckRange(offset, length, $"hal.dispatch of '{kernel.Name}', binding {i}");
            bindings[i] = new Binding(buffer.Pointer + offset, length);
        }
        var profile = inv.Context.Options.Profile;
        long start = profile is null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();
        inv.Commands.Dispatch(kernel, bindings, c.Values[(int)(3 + 2 * count)..]);
        profile?.Record(inv.DispatchSequence++, kernel, start);
    }

    private static long CheckSize(long size, string what) =>
        size >= 0 && size <= (1L << 40) ? size : throw new KilnRuntimeException(StatusCode.OutOfRange, $"{what}: invalid size {size}");

    private static DType CheckDType(long code, string what) =>
        code is > 0 and <= 26 && DTypes.IsValid((int)code) ? (DType)code : throw new KilnRuntimeException(StatusCode.InvalidArgument, $"{what}: unknown dtype {code}");
}
