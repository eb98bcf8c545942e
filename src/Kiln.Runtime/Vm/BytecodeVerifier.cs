using Kiln.Runtime.Format;

namespace Kiln.Runtime.Vm;

/// <summary>
/// Decodes every instruction of every function once, at load: operands inside the code, register
/// indices inside the function's banks, branch targets on instruction boundaries, call and import
/// arities matching their declarations, string, global and function indices in range, and code
/// that cannot run off its end. After this, the interpreter trusts the code.
/// </summary>
internal static unsafe class BytecodeVerifier
{
    public static void Verify(Module m)
    {
        for (int fi = 0; fi < m.FunctionCount; fi++) VerifyFunction(m, fi);
    }

    private static void VerifyFunction(Module m, int fi)
    {
        var strings = m.Section(SectionKind.Strings);
        var globals = m.Globals;
        var f = m.Function(fi);
        var code = new ReadOnlySpan<byte>(m.Code(fi, out int length), length);
        var starts = new bool[length];
        var branches = new List<(int At, uint Target)>();
        Opcode last = Opcode.Nop;
        for (int pc = 0; pc < length;)
        {
            var ins = InstructionDecoder.Decode(code, pc);
            starts[pc] = true;
            last = ins.Op;
            KilnRuntimeException Invalid(string message) => ModuleVerifier.Invalid($"function '{m.FunctionName(fi)}' at {ins.Offset} ({ins.Op}): {message}");

            void Value(ushort r) { if (r >= f.ValueRegisters) throw Invalid($"value register {r} is outside the function's {f.ValueRegisters}"); }
            void Ref(ushort r) { if (r >= f.RefRegisters) throw Invalid($"object register {r} is outside the function's {f.RefRegisters}"); }
            void Values(RegisterList l, ReadOnlySpan<byte> c) { for (int i = 0; i < l.Count; i++) Value(l.Get(c, i)); }
            void Refs(RegisterList l, ReadOnlySpan<byte> c) { for (int i = 0; i < l.Count; i++) Ref(l.Get(c, i)); }
            void Text(StringRef s) { if ((ulong)s.Offset + s.Length > strings.Length) throw Invalid("message lies outside the string table"); }

            switch (ins.Op)
            {
                case Opcode.Fail: Text(ins.Text); break;
                case Opcode.Return:
                    Values(ins.ValueResults, code); Refs(ins.RefResults, code);
                    if (ins.ValueResults.Count != f.ValueResults || ins.RefResults.Count != f.RefResults)
                        throw Invalid($"returns {ins.ValueResults.Count}/{ins.RefResults.Count} results; the function declares {f.ValueResults}/{f.RefResults}");
                    break;
                case Opcode.Call:
                {
                    Values(ins.ValueArgs, code); Refs(ins.RefArgs, code); Values(ins.ValueResults, code); Refs(ins.RefResults, code);
                    if (ins.Index >= m.FunctionCount) throw Invalid($"names function {ins.Index} of {m.FunctionCount}");
                    var c = m.Function((int)ins.Index);
                    if (ins.ValueArgs.Count != c.ValueArgs || ins.RefArgs.Count != c.RefArgs || ins.ValueResults.Count != c.ValueResults || ins.RefResults.Count != c.RefResults)
                        throw Invalid($"the call of '{m.FunctionName((int)ins.Index)}' does not match its arity");
                    break;
                }
                case Opcode.CallImport:
                {
                    Values(ins.ValueArgs, code); Refs(ins.RefArgs, code); Values(ins.ValueResults, code); Refs(ins.RefResults, code);
                    if (ins.Index >= m.ImportCount) throw Invalid($"names import {ins.Index} of {m.ImportCount}");
                    var imp = m.Import((int)ins.Index);
                    var flags = (ImportFlags)imp.Flags;
                    bool valuesOk = flags.HasFlag(ImportFlags.VariadicValues) ? ins.ValueArgs.Count >= imp.ValueArgs : ins.ValueArgs.Count == imp.ValueArgs;
                    bool refsOk = flags.HasFlag(ImportFlags.VariadicRefs) ? ins.RefArgs.Count >= imp.RefArgs : ins.RefArgs.Count == imp.RefArgs;
                    if (!valuesOk || !refsOk || ins.ValueResults.Count != imp.ValueResults || ins.RefResults.Count != imp.RefResults)
                        throw Invalid($"the call of import '{m.String(imp.Name)}' does not match its declared arity");
                    break;
                }
                case Opcode.Branch: branches.Add((ins.Offset, ins.Index)); break;
                case Opcode.BranchIf or Opcode.BranchUnless: Value(ins.A); branches.Add((ins.Offset, ins.Index)); break;
                case Opcode.Assert: Value(ins.A); Text(ins.Text); break;
                case Opcode.ConstI64: Value(ins.A); break;
                case Opcode.Move: Value(ins.A); Value(ins.B); break;
                case Opcode.MoveRef: Ref(ins.A); Ref(ins.B); break;
                case Opcode.ClearRef: Ref(ins.A); break;
                case Opcode.IsNull: Value(ins.A); Ref(ins.B); break;
                case Opcode.GlobalLoad or Opcode.GlobalStore:
                    Value(ins.A);
                    if (ins.Index >= globals.ValueCount) throw Invalid($"global {ins.Index} of {globals.ValueCount}");
                    break;
                case Opcode.GlobalLoadRef or Opcode.GlobalStoreRef:
                    Ref(ins.A);
                    if (ins.Index >= globals.RefCount) throw Invalid($"global {ins.Index} of {globals.RefCount}");
                    break;
                case Opcode.Select: Value(ins.A); Value(ins.B); Value(ins.C); Value(ins.D); break;
                case Opcode.Nop: break;
                default: Value(ins.A); Value(ins.B); Value(ins.C); break; // binary arithmetic
            }
            pc += ins.Length;
        }
        if (!Opcodes.IsTerminator(last))
            throw ModuleVerifier.Invalid($"function '{m.FunctionName(fi)}' can run off the end of its code (last instruction {last})");
        foreach (var (at, target) in branches)
            if (target >= length || !starts[target])
                throw ModuleVerifier.Invalid($"function '{m.FunctionName(fi)}' at {at}: branch target {target} is not an instruction");
    }
}
