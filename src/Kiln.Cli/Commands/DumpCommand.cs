using System.CommandLine;
using System.Text;
using Kiln.Runtime;
using Kiln.Runtime.Format;
using Kiln.Runtime.Kernels.Elementwise;
using Kiln.Runtime.Vm;

namespace Kiln.Cli;

/// <summary>`kiln dump MODEL.kiln`: header, tables, bytecode disassembly, kernels and constant sizes.</summary>
internal static class DumpCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("module") { Description = "A .kiln module" };
        var cmd = new Command("dump", "Print a module's header, tables, disassembled bytecode, kernels and constants") { model };
        cmd.SetAction(CommandLine.Guard(parse =>
        {
            using var m = Module.Load(parse.GetValue(model)!);
            Console.Write(Dump(m));
            return 0;
        }));
        return cmd;
    }

    public static string Dump(Module m)
    {
        var sb = new StringBuilder();
        var h = m.Header;
        sb.AppendLine($"module: format {h.Version}, {h.FileSize} bytes, {h.SectionCount} sections, requires {(CpuFeatures)h.RequiredFeatures}, metadata crc {h.MetadataChecksum:X8}");
        sb.AppendLine($"constants: {m.SegmentCount} segments, {m.ConstantBytes} bytes");
        for (int i = 0; i < m.SegmentCount; i++) { m.SegmentPointerInfo(i, out long off, out long len); sb.AppendLine($"  segment {i}: offset {off}, {len} bytes"); }
        sb.AppendLine($"imports ({m.ImportCount}):");
        for (int i = 0; i < m.ImportCount; i++)
        {
            var r = m.Import(i);
            sb.AppendLine($"  {i}: {m.String(r.Name)} ({r.ValueArgs} values, {r.RefArgs} objects{((ImportFlags)r.Flags != ImportFlags.None ? ", " + (ImportFlags)r.Flags : "")}) -> ({r.ValueResults}, {r.RefResults})");
        }
        sb.AppendLine($"exports ({m.ExportCount}):");
        for (int i = 0; i < m.ExportCount; i++) sb.AppendLine($"  {m.String(m.Export(i).Name)} -> function {m.Export(i).Function}");
        var g = m.Globals;
        sb.AppendLine($"globals: {g.ValueCount} values, {g.RefCount} objects, initializer {(g.Initializer == uint.MaxValue ? "none" : g.Initializer.ToString())}");
        for (int e = 0; e < m.ExecutableCount; e++)
        {
            var x = m.Executable(e);
            sb.AppendLine($"executable {e} ({m.String(x.Format)}): {x.KernelCount} kernels");
            for (int k = 0; k < x.KernelCount; k++)
            {
                int index = (int)x.FirstKernel + k;
                var kr = m.Kernel(index);
                string name = m.String(kr.Name);
                sb.AppendLine($"  kernel {k}: {name}, {kr.BindingCount} bindings, {kr.ConstantCount} constants, descriptor {kr.DataLength} bytes, hash {kr.ContentHash:X16}");
                if (name == ElementwiseKernel.KernelName)
                    foreach (var line in ElementwiseProgram.Decode(m.KernelData(index)).ToString().Split('\n')) sb.AppendLine("    " + line);
            }
        }
        for (int f = 0; f < m.FunctionCount; f++)
        {
            var fr = m.Function(f);
            sb.AppendLine($"function {f} '{m.FunctionName(f)}': {fr.ValueArgs}/{fr.RefArgs} args, {fr.ValueResults}/{fr.RefResults} results, {fr.ValueRegisters}/{fr.RefRegisters} registers, {fr.CodeLength} bytes");
            var code = m.FunctionCode(f);
            for (int pc = 0; pc < code.Length;)
            {
                var ins = InstructionDecoder.Decode(code, pc);
                sb.Append($"  {pc,6}: ").AppendLine(Disassemble(m, code, ins));
                pc += ins.Length;
            }
        }
        return sb.ToString();
    }

    private static string Disassemble(Module m, ReadOnlySpan<byte> code, Instruction i)
    {
        string List(RegisterList l, string prefix, ReadOnlySpan<byte> c)
        {
            var parts = new string[l.Count];
            for (int k = 0; k < l.Count; k++) parts[k] = prefix + l.Get(c, k);
            return string.Join(", ", parts);
        }
        string args = $"[{List(i.ValueArgs, "v", code)}] [{List(i.RefArgs, "r", code)}]";
        string results = $"[{List(i.ValueResults, "v", code)}] [{List(i.RefResults, "r", code)}]";
        return i.Op switch
        {
            Opcode.ConstI64 => $"v{i.A} = {i.Immediate}",
            Opcode.Move => $"v{i.A} = v{i.B}",
            Opcode.MoveRef => $"r{i.A} = r{i.B}",
            Opcode.ClearRef => $"clear r{i.A}",
            Opcode.IsNull => $"v{i.A} = isnull r{i.B}",
            Opcode.Call => $"{results} = call {m.FunctionName((int)i.Index)} {args}",
            Opcode.CallImport => $"{results} = call.import {m.String(m.Import((int)i.Index).Name)} {args}",
            Opcode.Return => $"return {results}",
            Opcode.Branch => $"br {i.Index}",
            Opcode.BranchIf => $"br_if v{i.A}, {i.Index}",
            Opcode.BranchUnless => $"br_unless v{i.A}, {i.Index}",
            Opcode.Assert => $"assert v{i.A}, \"{m.String(i.Text)}\"",
            Opcode.Fail => $"fail \"{m.String(i.Text)}\"",
            Opcode.GlobalLoad => $"v{i.A} = global {i.Index}",
            Opcode.GlobalStore => $"global {i.Index} = v{i.A}",
            Opcode.GlobalLoadRef => $"r{i.A} = global.ref {i.Index}",
            Opcode.GlobalStoreRef => $"global.ref {i.Index} = r{i.A}",
            Opcode.Select => $"v{i.A} = select v{i.B}, v{i.C}, v{i.D}",
            Opcode.Nop => "nop",
            _ => $"v{i.A} = {i.Op.ToString().ToLowerInvariant()} v{i.B}, v{i.C}",
        };
    }
}
