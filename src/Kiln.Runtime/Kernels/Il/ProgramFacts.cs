using System.Reflection.Emit;
using Kiln.Runtime.Kernels.Elementwise;

namespace Kiln.Runtime.Kernels.Il;

/// <summary>
/// Def-use facts of an elementwise program for code generation. Registers may be redefined, so a
/// value is named by the index of the instruction that defines it (its "def"); for every
/// instruction, the defs its operands read; for every def, its uses and its last use.
/// </summary>
internal sealed class ProgramFacts
{
    private readonly ElementwiseProgram _program;
    private readonly int[][] _operands;
    private readonly List<(int Instruction, int Slot)>[] _uses;

    public ProgramFacts(ElementwiseProgram program)
    {
        _program = program;
        var code = program.Instructions;
        _operands = new int[code.Length][];
        _uses = new List<(int, int)>[code.Length];
        LastUse = new int[code.Length];
        Array.Fill(LastUse, -1);
        var current = new int[program.RegisterCount]; // the def each register holds now (the decoder checked definition before use)
        for (int k = 0; k < code.Length; k++)
        {
            var ins = code[k];
            _uses[k] = [];
            int count = OperandCount(ins.Op);
            ReadOnlySpan<ushort> registers = [ins.A, ins.B, ins.C];
            _operands[k] = new int[count];
            for (int s = 0; s < count; s++)
            {
                int def = current[registers[s]];
                _operands[k][s] = def;
                _uses[def].Add((k, s));
                LastUse[def] = k;
            }
            if (ResultType(ins) is not null) current[ins.Dst] = k;
        }
    }

    /// <summary>The def read by operand slot s (0 = A, 1 = B, 2 = C) of instruction k.</summary>
    public int Operand(int k, int s) => _operands[k][s];

    public int OperandCount(int k) => _operands[k].Length;

    /// <summary>The last instruction reading each def, or -1 for a def nobody reads.</summary>
    public int[] LastUse { get; }

    /// <summary>The value of a Const def, if <paramref name="def"/> is one.</summary>
    public long? ConstantValue(int def) => _program.Instructions[def].Op == EwOp.Const ? _program.Instructions[def].Immediate : null;

    /// <summary>
    /// True when every use of a predicate def is the condition of a Select whose values have lanes of
    /// <paramref name="laneBytes"/>: then the comparison's lane mask serves as is and the 0/1 value is never built.
    /// </summary>
    public bool OnlySelectCondition(int def, int laneBytes)
    {
        foreach (var (k, slot) in _uses[def])
        {
            var ins = _program.Instructions[k];
            if (ins.Op != EwOp.Select || slot != 0 || ByteSize(ins.Type) != laneBytes) return false;
        }
        return true;
    }

    /// <summary>The type of the value an instruction defines (null for Store).</summary>
    public static ComputeType? ResultType(in EwInstruction ins) => ins.Op switch
    {
        EwOp.Store => null,
        EwOp.Cast => (ComputeType)ins.Aux,
        EwOp.IsNaN or EwOp.IsInf or >= EwOp.Eq and <= EwOp.LeU => ComputeType.I64,
        _ => ins.Type,
    };

    /// <summary>How many register operands (A, B, C) an instruction reads.</summary>
    public static int OperandCount(EwOp op) => op switch
    {
        EwOp.Load or EwOp.Const => 0,
        EwOp.Store or EwOp.Cast => 1,
        < EwOp.Add => 1,
        < EwOp.Select => 2,
        _ => 3,
    };

    public static int ByteSize(ComputeType t) => t == ComputeType.F32 ? 4 : 8;

    /// <summary>The defs instruction k reads for the last time (each once), for releasing their locals.</summary>
    public IEnumerable<int> DyingAt(int k)
    {
        var operands = _operands[k];
        for (int s = 0; s < operands.Length; s++)
        {
            int def = operands[s];
            if (LastUse[def] != k || Array.IndexOf(operands, def) != s) continue;
            yield return def;
        }
        if (LastUse[k] < 0 && ResultType(_program.Instructions[k]) is not null) yield return k; // defined, never read
    }
}

/// <summary>IL locals reused by type once the value they hold is dead, so long programs need few locals.</summary>
internal sealed class LocalPool(ILGenerator il)
{
    private readonly Dictionary<Type, Stack<LocalBuilder>> _free = [];

    public LocalBuilder Rent(Type type) =>
        _free.TryGetValue(type, out var stack) && stack.TryPop(out var local) ? local : il.DeclareLocal(type);

    public void Return(LocalBuilder local)
    {
        if (!_free.TryGetValue(local.LocalType, out var stack)) _free[local.LocalType] = stack = new Stack<LocalBuilder>();
        stack.Push(local);
    }
}
