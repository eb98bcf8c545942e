using Kiln.Compiler.Codegen;
using Kiln.Compiler.Lowering;
using Kiln.Compiler.Memory;
using Kiln.Compiler.Passes;
using Kiln.Compiler.Targets;
using Kiln.Ir;
using Kiln.Ops;

namespace Kiln.Compiler;

/// <summary>Options of <see cref="KilnCompiler"/>.</summary>
public sealed record CompileOptions
{
    /// <summary>Called with the stage name and the IR (or plan) text after every stage (the --print-ir-after-all hook).</summary>
    public Action<string, string>? PrintAfterStage { get; init; }

    /// <summary>Fuse chains of elementwise operations into single kernels (on by default).</summary>
    public bool Fuse { get; init; } = true;

    /// <summary>The kernel target (<see cref="CompileTarget"/>): "portable" (default) or "il".</summary>
    public string Target { get; init; } = CompileTarget.Portable;
}

/// <summary>The result of compiling: the module bytes, and the plan they came from (for dumps and tests).</summary>
public sealed record CompiledModule(byte[] Bytes, ExecutionPlan Plan);

/// <summary>
/// The compiler pipeline: graph passes (constant folding, dead-code elimination, fusion), lowering to an
/// execution plan, memory planning, and module emission. Takes ownership of the model's graph
/// (passes rewrite it). Stateless; thread-safe per call.
/// </summary>
public static class KilnCompiler
{
    public static CompiledModule Compile(Model model, CompileOptions? options = null)
    {
        options ??= new CompileOptions();
        string target = CompileTarget.Check(options.Target);
        var graph = model.Graph;
        void Print(string stage) => options.PrintAfterStage?.Invoke(stage, IrPrinter.Print(model));

        Print("import");
        if (Decompose.Run(graph)) Print("decompose");
        ConstantFolding.Run(graph);
        Print("fold-constants");
        DeadCodeElimination.Run(graph);
        Print("eliminate-dead-code");
        if (RefineShapes.Run(graph)) Print("refine-shapes");
        if (options.Fuse)
        {
            // Epilogues first: work after a convolution or matrix product is best done in its kernel.
            FuseEpilogues.Run(graph);
            Print("fuse-epilogues");
            FuseElementwise.Run(graph);
            Print("fuse-elementwise");
        }
        Verifier.Verify(model);

        var plan = Lowerer.Lower(graph);
        options.PrintAfterStage?.Invoke("lower", plan.ToString());
        PlanMemory.Run(plan);
        options.PrintAfterStage?.Invoke("plan-memory", plan.ToString());
        return new CompiledModule(HostProgramEmitter.Emit(plan, target), plan);
    }
}
