using System.CommandLine;
using Kiln.Cli;

// The `kiln` tool. Each command lives in its own file under Commands/.
var root = new RootCommand("Kiln: an ahead-of-time ML compiler and runtime for .NET");
root.Subcommands.Add(RunCommand.Create());
root.Subcommands.Add(ConformanceCommand.Create());
root.Subcommands.Add(IrCommand.Create());
return CommandLine.Invoke(root, args);
