using Kiln.Compiler.Codegen;
using Kiln.Compiler.Lowering;
using Kiln.Compiler.Memory;
using Kiln.Compiler.Passes;
using Kiln.Ir;
using Kiln.Ops;

namespace Kiln.Compiler;

/// <summary>Options of <see cref="KilnCompiler"/>.</summary>
public sealed record CompileOptions
{
    /// <summary>Called with the stage name and the IR (or plan) text after every stage (the --print-ir-after-all hook).</summary>
    public Action<string, string>? PrintAfterStage { get; init; }

    /// <summary>The kernel target: "portable" (prebuilt kernels, runs everywhere) or "il" (code generated at load).</summary>
    public string Target { get; init; } = "portable";

    /// <summary>Fuse chains of elementwise operations into single kernels (on by default).</summary>
    public bool Fuse { get; init; } = true;
}

/// <summary>The result of compiling: the module bytes, and the plan they came from (for dumps and tests).</summary>
public sealed record CompiledModule(byte[] Bytes, ExecutionPlan Plan);

/// <summary>
/// The compiler pipeline: graph passes (constant folding, dead-code elimination), lowering to an
/// execution plan, memory planning, and module emission. Takes ownership of the model's graph
/// (passes rewrite it). Stateless; thread-safe per call.
/// </summary>
public static class KilnCompiler
{
    public static CompiledModule Compile(Model model, CompileOptions? options = null)
    {
        options ??= new CompileOptions();
        var graph = model.Graph;
        void Print(string stage) => options.PrintAfterStage?.Invoke(stage, IrPrinter.Print(model));

        Print("import");
        ConstantFolding.Run(graph);
        Print("fold-constants");
        DeadCodeElimination.Run(graph);
        Print("eliminate-dead-code");
        if (options.Fuse)
        {
            FuseElementwise.Run(graph);
            Print("fuse-elementwise");
        }
        Verifier.Verify(model);

        var plan = Lowerer.Lower(graph);
        options.PrintAfterStage?.Invoke("lower", plan.ToString());
        PlanMemory.Run(plan);
        options.PrintAfterStage?.Invoke("plan-memory", plan.ToString());
        return new CompiledModule(HostProgramEmitter.Emit(plan), plan);
    }
}
