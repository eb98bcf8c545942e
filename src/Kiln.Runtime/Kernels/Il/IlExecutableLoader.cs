using System.Diagnostics.CodeAnalysis;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Kernels.Elementwise;

namespace Kiln.Runtime.Kernels.Il;

/// <summary>
/// Loads "il" executables: their kernels are elementwise programs (the kernel IR), which this
/// loader renders to IL with <see cref="ElementwiseRenderer"/> and JIT-compiles when a context is
/// created, so the first dispatch runs compiled code. Other kernel families live in the module's
/// "portable" executable and never reach this loader; programs the renderer does not cover
/// (<see cref="ElementwiseRenderer.CanRender"/>) run on the portable interpreter. Where code cannot be generated (NativeAOT),
/// the <see cref="PortableExecutableLoader"/> loads "il" executables itself, interpreting the same
/// descriptors.
/// Generated code depends only on the program, so it is cached per loader by the kernel's content
/// hash (checked against the descriptor bytes): identical kernels, in one module or in many, are
/// rendered and compiled once. Thread-safe.
/// </summary>
[RequiresDynamicCode("Generates code at run time with System.Reflection.Emit.")]
public sealed class IlExecutableLoader : ExecutableLoader
{
    public const string FormatName = PortableExecutableLoader.IlFormatName;

    private readonly ElementwiseRenderer _renderer;
    private readonly Dictionary<ulong, (byte[] Descriptor, ElementwiseRow Row)> _rendered = [];
    private readonly object _lock = new();

    /// <param name="vectorBytes">The vector width of generated loops (64, 32, 16, or 0 for scalar code); by default the widest the processor runs natively.</param>
    public IlExecutableLoader(int? vectorBytes = null)
    {
        _renderer = new ElementwiseRenderer(vectorBytes ?? ElementwiseRenderer.NativeVectorBytes);
    }

    public int VectorBytes => _renderer.VectorBytes;

    /// <summary>How many distinct programs this loader has rendered.</summary>
    public int RenderedCount
    {
        get { lock (_lock) return _rendered.Count; }
    }

    public override bool CanLoad(string format) => format == FormatName;

    public override Kernel LoadKernel(string name, ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount, ulong contentHash)
    {
        if (name != ElementwiseKernel.KernelName)
            throw new KilnRuntimeException(StatusCode.Unsupported, $"the il loader renders elementwise kernels only, not '{name}'");
        var portable = (ElementwiseKernel)ElementwiseKernel.Load(descriptor, bindingCount, constantCount);
        if (!ElementwiseRenderer.CanRender(portable.Program)) return portable; // narrow formats: interpreted
        return new IlElementwiseKernel(portable, RowFor(portable.Program, descriptor, contentHash));
    }

    private unsafe ElementwiseRow RowFor(ElementwiseProgram program, ReadOnlySpan<byte> descriptor, ulong contentHash)
    {
        lock (_lock)
        {
            // A module states its hashes; comparing the descriptors keeps a wrong one from selecting another kernel's code.
            if (_rendered.TryGetValue(contentHash, out var hit) && hit.Descriptor.AsSpan().SequenceEqual(descriptor)) return hit.Row;
            var row = _renderer.Render(program);
            row(null, null, 0); // JIT-compile now: a row of no elements touches nothing
            _rendered[contentHash] = (descriptor.ToArray(), row);
            return row;
        }
    }
}
