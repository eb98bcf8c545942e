using System.CommandLine;

namespace Kiln.Cli;

/// <summary>The `kiln` tool. Each command lives in its own file under Commands/.</summary>
public static class KilnTool
{
    public static int Main(string[] args) => Run(args);

    /// <summary>Runs the tool with the given arguments and returns its exit code (tests call this directly).</summary>
    public static int Run(params string[] args)
    {
        var root = new RootCommand("Kiln: an ahead-of-time ML compiler and runtime for .NET");
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(RunCommand.Create());
        root.Subcommands.Add(CompileCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(DumpCommand.Create());
        root.Subcommands.Add(ConformanceCommand.Create());
        root.Subcommands.Add(IrCommand.Create());
        return CommandLine.Invoke(root, args);
    }
}
