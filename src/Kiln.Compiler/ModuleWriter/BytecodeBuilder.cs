using System.Buffers.Binary;
using Kiln.Runtime.Format;
using Kiln.Runtime.Vm;

namespace Kiln.Compiler.ModuleWriter;

/// <summary>A branch target inside one function's code.</summary>
public readonly record struct Label(int Id);

/// <summary>
/// Emits VM bytecode for one function (encoding per <see cref="Opcode"/>), allocating registers
/// and resolving labels. Not thread-safe.
/// </summary>
public sealed class BytecodeBuilder(Func<string, StringRef> strings)
{
    private readonly List<byte> _code = [];
    private readonly List<int> _labelTargets = [];
    private readonly List<(int At, int Label)> _fixups = [];

    public int ValueRegisters { get; private set; }
    public int RefRegisters { get; private set; }

    /// <summary>Reserves argument registers so they are [0, n) of each bank.</summary>
    public void ReserveArguments(int values, int refs)
    {
        ValueRegisters = Math.Max(ValueRegisters, values);
        RefRegisters = Math.Max(RefRegisters, refs);
    }

    public ushort NewValue() => Checked(ValueRegisters++);
    public ushort NewRef() => Checked(RefRegisters++);

    private static ushort Checked(int r) => r < ModuleFormat.MaxRegisters ? (ushort)r
        : throw new InvalidOperationException($"a function needs more than {ModuleFormat.MaxRegisters} registers");

    public Label NewLabel() { _labelTargets.Add(-1); return new Label(_labelTargets.Count - 1); }
    public void Mark(Label l) => _labelTargets[l.Id] = _code.Count;

    public int Length => _code.Count;

    // ---- instructions
    public void Nop() => Op(Opcode.Nop);
    public void Fail(string message) { Op(Opcode.Fail); Str(message); }
    public void Assert(ushort condition, string message) { Op(Opcode.Assert); U16(condition); Str(message); }

    public void Return(IReadOnlyList<ushort> values, IReadOnlyList<ushort> refs) { Op(Opcode.Return); List(values); List(refs); }

    public void Call(int function, IReadOnlyList<ushort> valueArgs, IReadOnlyList<ushort> refArgs, IReadOnlyList<ushort> valueResults, IReadOnlyList<ushort> refResults)
    {
        Op(Opcode.Call); U32((uint)function); List(valueArgs); List(refArgs); List(valueResults); List(refResults);
    }

    public void CallImport(int import, IReadOnlyList<ushort> valueArgs, IReadOnlyList<ushort> refArgs, IReadOnlyList<ushort> valueResults, IReadOnlyList<ushort> refResults)
    {
        Op(Opcode.CallImport); U32((uint)import); List(valueArgs); List(refArgs); List(valueResults); List(refResults);
    }

    public void Branch(Label l) { Op(Opcode.Branch); Fixup(l); }
    public void BranchIf(ushort c, Label l) { Op(Opcode.BranchIf); U16(c); Fixup(l); }
    public void BranchUnless(ushort c, Label l) { Op(Opcode.BranchUnless); U16(c); Fixup(l); }

    public void ConstI64(ushort dst, long value)
    {
        Op(Opcode.ConstI64); U16(dst);
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(b, value);
        _code.AddRange(b.ToArray());
    }

    public ushort Const(long value) { var r = NewValue(); ConstI64(r, value); return r; }

    public void Move(ushort dst, ushort src) { Op(Opcode.Move); U16(dst); U16(src); }
    public void MoveRef(ushort dst, ushort src) { Op(Opcode.MoveRef); U16(dst); U16(src); }
    public void ClearRef(ushort r) { Op(Opcode.ClearRef); U16(r); }
    public void IsNull(ushort dst, ushort r) { Op(Opcode.IsNull); U16(dst); U16(r); }
    public void GlobalLoad(ushort dst, int g) { Op(Opcode.GlobalLoad); U16(dst); U32((uint)g); }
    public void GlobalStore(int g, ushort src) { Op(Opcode.GlobalStore); U32((uint)g); U16(src); }
    public void GlobalLoadRef(ushort dst, int g) { Op(Opcode.GlobalLoadRef); U16(dst); U32((uint)g); }
    public void GlobalStoreRef(int g, ushort src) { Op(Opcode.GlobalStoreRef); U32((uint)g); U16(src); }
    public void Select(ushort dst, ushort c, ushort a, ushort b) { Op(Opcode.Select); U16(dst); U16(c); U16(a); U16(b); }

    public void Binary(Opcode op, ushort dst, ushort a, ushort b)
    {
        if (!Opcodes.IsBinary(op)) throw new ArgumentException($"{op} is not a binary opcode");
        Op(op); U16(dst); U16(a); U16(b);
    }

    /// <summary>dst = a op b in a new register.</summary>
    public ushort Binary(Opcode op, ushort a, ushort b) { var d = NewValue(); Binary(op, d, a, b); return d; }

    /// <summary>The finished code with labels resolved.</summary>
    public byte[] Finish()
    {
        var code = _code.ToArray();
        foreach (var (at, label) in _fixups)
        {
            int target = _labelTargets[label];
            if (target < 0) throw new InvalidOperationException($"label {label} was never marked");
            BinaryPrimitives.WriteUInt32LittleEndian(code.AsSpan(at), (uint)target);
        }
        return code;
    }

    private void Op(Opcode op) => _code.Add((byte)op);
    private void U16(ushort v) { _code.Add((byte)v); _code.Add((byte)(v >> 8)); }
    private void U32(uint v) { for (int i = 0; i < 4; i++) _code.Add((byte)(v >> (8 * i))); }
    private void Str(string s) { var r = strings(s); U32(r.Offset); U32(r.Length); }
    private void Fixup(Label l) { _fixups.Add((_code.Count, l.Id)); U32(0); }

    private void List(IReadOnlyList<ushort> regs)
    {
        if (regs.Count > 255) throw new InvalidOperationException("more than 255 registers in one operand list");
        _code.Add((byte)regs.Count);
        foreach (var r in regs) U16(r);
    }
}
