using System.Buffers.Binary;
using Kiln.Runtime.Format;

namespace Kiln.Runtime.Vm;

/// <summary>A register list inside the code: a count and where its u16 entries start.</summary>
public readonly record struct RegisterList(int Offset, int Count)
{
    public ushort Get(ReadOnlySpan<byte> code, int i) => BinaryPrimitives.ReadUInt16LittleEndian(code[(Offset + 2 * i)..]);
}

/// <summary>One decoded instruction (fields unused by an opcode are zero).</summary>
public readonly record struct Instruction(
    Opcode Op, int Offset, int Length, ushort A, ushort B, ushort C, ushort D, long Immediate, uint Index, StringRef Text,
    RegisterList ValueArgs, RegisterList RefArgs, RegisterList ValueResults, RegisterList RefResults);

/// <summary>
/// Decodes instructions with every operand bounds-checked against the code; used by the verifier
/// and the disassembler (the interpreter decodes verified code directly, without checks).
/// </summary>
public static class InstructionDecoder
{
    /// <summary>Decodes the instruction at <paramref name="pc"/>; throws InvalidModule if it is cut off or unknown.</summary>
    public static Instruction Decode(ReadOnlySpan<byte> code, int pc)
    {
        int start = pc;
        if (pc >= code.Length) throw Cut(start);
        var op = (Opcode)code[pc++];
        ushort a = 0, b = 0, c = 0, d = 0;
        long imm = 0;
        uint index = 0;
        StringRef text = default;
        RegisterList va = default, ra = default, vr = default, rr = default;

        ushort Reg(ReadOnlySpan<byte> s, ref int p)
        {
            if (p + 2 > s.Length) throw Cut(start);
            ushort r = BinaryPrimitives.ReadUInt16LittleEndian(s[p..]);
            p += 2;
            return r;
        }
        uint U32(ReadOnlySpan<byte> s, ref int p)
        {
            if (p + 4 > s.Length) throw Cut(start);
            uint v = BinaryPrimitives.ReadUInt32LittleEndian(s[p..]);
            p += 4;
            return v;
        }
        RegisterList List(ReadOnlySpan<byte> s, ref int p)
        {
            if (p + 1 > s.Length) throw Cut(start);
            int n = s[p++];
            if (p + 2 * n > s.Length) throw Cut(start);
            var l = new RegisterList(p, n);
            p += 2 * n;
            return l;
        }

        switch (op)
        {
            case Opcode.Nop: break;
            case Opcode.Fail: text = new StringRef { Offset = U32(code, ref pc), Length = U32(code, ref pc) }; break;
            case Opcode.Return: vr = List(code, ref pc); rr = List(code, ref pc); break;
            case Opcode.Call or Opcode.CallImport:
                index = U32(code, ref pc);
                va = List(code, ref pc); ra = List(code, ref pc); vr = List(code, ref pc); rr = List(code, ref pc);
                break;
            case Opcode.Branch: index = U32(code, ref pc); break;
            case Opcode.BranchIf or Opcode.BranchUnless: a = Reg(code, ref pc); index = U32(code, ref pc); break;
            case Opcode.Assert: a = Reg(code, ref pc); text = new StringRef { Offset = U32(code, ref pc), Length = U32(code, ref pc) }; break;
            case Opcode.ConstI64:
                a = Reg(code, ref pc);
                if (pc + 8 > code.Length) throw Cut(start);
                imm = BinaryPrimitives.ReadInt64LittleEndian(code[pc..]);
                pc += 8;
                break;
            case Opcode.Move or Opcode.MoveRef or Opcode.IsNull: a = Reg(code, ref pc); b = Reg(code, ref pc); break;
            case Opcode.ClearRef: a = Reg(code, ref pc); break;
            case Opcode.GlobalLoad or Opcode.GlobalLoadRef: a = Reg(code, ref pc); index = U32(code, ref pc); break;
            case Opcode.GlobalStore or Opcode.GlobalStoreRef: index = U32(code, ref pc); a = Reg(code, ref pc); break;
            case Opcode.Select: a = Reg(code, ref pc); b = Reg(code, ref pc); c = Reg(code, ref pc); d = Reg(code, ref pc); break;
            default:
                if (!Opcodes.IsBinary(op)) throw ModuleVerifier.Invalid($"unknown opcode 0x{(byte)op:X2} at {start}");
                a = Reg(code, ref pc); b = Reg(code, ref pc); c = Reg(code, ref pc);
                break;
        }
        return new Instruction(op, start, pc - start, a, b, c, d, imm, index, text, va, ra, vr, rr);
    }

    private static KilnRuntimeException Cut(int at) => ModuleVerifier.Invalid($"instruction at {at} runs past the end of the code");
}
