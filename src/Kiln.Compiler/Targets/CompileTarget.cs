using Kiln.Ir;
using Kiln.Runtime.Kernels;
using Kiln.Runtime.Kernels.Elementwise;

namespace Kiln.Compiler.Targets;

/// <summary>
/// The targets kernels are compiled for, and what a target decides: the executable format each
/// kernel goes into. A module holds one executable per format it uses, and a dispatch names its
/// executable and ordinal. "portable" puts every kernel in one "portable" executable (prebuilt
/// kernels of the runtime's library, parameterized by descriptors). "il" moves the elementwise
/// kernels into an "il" executable, whose programs the runtime renders to IL and JIT-compiles at
/// load (or interprets where it cannot generate code); other families stay portable.
/// </summary>
public static class CompileTarget
{
    public const string Portable = "portable";
    public const string Il = "il";

    public static IReadOnlyList<string> Names { get; } = [Portable, Il];

    /// <summary>Throws InvalidArgument for an unknown target name.</summary>
    public static string Check(string target) => Names.Contains(target) ? target
        : throw new KilnException(ErrorCode.InvalidArgument, $"unknown target '{target}' ({string.Join(", ", Names)})");

    /// <summary>The executable format that holds a kernel of <paramref name="family"/> under <paramref name="target"/>.</summary>
    public static string ExecutableFormat(string target, string family) =>
        target == Il && family == ElementwiseKernel.KernelName ? PortableExecutableLoader.IlFormatName : PortableExecutableLoader.FormatName;
}
