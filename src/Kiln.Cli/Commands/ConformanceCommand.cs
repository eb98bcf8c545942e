using System.CommandLine;
using Kiln.Conformance;

namespace Kiln.Cli;

/// <summary>`kiln conformance DIR`: run every case of an ONNX backend suite folder; ends with "N passed, N failed, N skipped".</summary>
internal static class ConformanceCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("dir") { Description = "A suite folder, e.g. ../shared/onnx-backend/node" };
        var engine = new Option<string>("--engine") { Description = "reference (the evaluator) or compiled (compile, load the module, run it)", DefaultValueFactory = _ => "reference" };
        var device = new Option<string>("--device") { Description = "sync or task (for the compiled engine)", DefaultValueFactory = _ => "sync" };
        var target = new Option<string>("--target") { Description = "portable or il (for the compiled engine): how elementwise kernels are compiled", DefaultValueFactory = _ => "portable" };
        var filter = new Option<string?>("--filter") { Description = "Only cases whose name contains this text" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Print passing and skipped cases too" };
        var cmd = new Command("conformance", "Run the ONNX backend conformance cases of a folder") { dir, engine, device, target, filter, verbose };
        cmd.SetAction(CommandLine.Guard(parse =>
        {
            IConformanceEngine e = parse.GetValue(engine) switch
            {
                "reference" => new ReferenceEngine(),
                "compiled" => new CompiledEngine(parse.GetValue(device)!, Kiln.Compiler.Targets.CompileTarget.Check(parse.GetValue(target)!)),
                var other => throw new Kiln.Ir.KilnException(Kiln.Ir.ErrorCode.InvalidArgument, $"unknown engine '{other}' (reference, compiled)"),
            };
            var skips = SkipList.ForEngine(e.Name);
            var cases = ConformanceCase.Discover(parse.GetValue(dir)!);
            string? f = parse.GetValue(filter);
            bool v = parse.GetValue(verbose);
            var results = new List<CaseResult>();
            foreach (var c in cases)
            {
                if (f is not null && !c.Name.Contains(f, StringComparison.Ordinal)) continue;
                var r = ConformanceRunner.Run(c, e, skips);
                results.Add(r);
                if (r.Status == CaseStatus.Failed) Console.WriteLine($"FAIL {c.Id}: {r.Detail}");
                else if (v) Console.WriteLine($"{(r.Status == CaseStatus.Passed ? "PASS" : "SKIP")} {c.Id}{(r.Detail.Length > 0 ? ": " + r.Detail : "")}");
            }
            Console.WriteLine(ConformanceRunner.Summary(results));
            return results.Any(r => r.Status == CaseStatus.Failed) ? 1 : 0;
        }));
        return cmd;
    }
}
