using System.Diagnostics.CodeAnalysis;
using System.Reflection.Emit;
using Kiln.Runtime.Kernels.Elementwise;

namespace Kiln.Runtime.Kernels.Il;

/// <summary>
/// The body of the scalar loop: one element of the program per iteration, each register a local of
/// its compute type. Operands are addressed through per-operand cursors the loop advances by their
/// strides, so this loop serves any strides (transposes, reversed slices, broadcasts) and the tails
/// of vector loops.
/// </summary>
[RequiresDynamicCode("Emits IL.")]
internal sealed class ScalarBody(ILGenerator il, ElementwiseProgram program, ProgramFacts facts, LocalPool pool, LocalBuilder[] cursors)
{
    private readonly LocalBuilder?[] _values = new LocalBuilder?[program.Instructions.Length];
    private readonly bool[] _constant = new bool[program.Instructions.Length];

    /// <summary>Puts the program's constants in locals before the loop.</summary>
    public void HoistConstants()
    {
        for (int k = 0; k < program.Instructions.Length; k++)
        {
            var ins = program.Instructions[k];
            if (ins.Op != EwOp.Const) continue;
            var local = pool.Rent(ScalarCode.ClrType(ins.Type));
            ScalarCode.Constant(il, ins);
            il.Emit(OpCodes.Stloc, local);
            _values[k] = local;
            _constant[k] = true;
        }
    }

    public void Emit()
    {
        for (int k = 0; k < program.Instructions.Length; k++)
        {
            var ins = program.Instructions[k];
            switch (ins.Op)
            {
                case EwOp.Const: break;
                case EwOp.Load:
                    il.Emit(OpCodes.Ldloc, cursors[ins.Aux]);
                    ScalarCode.Load(il, program.Inputs[ins.Aux]);
                    Define(k, ins.Type);
                    break;
                case EwOp.Store:
                    il.Emit(OpCodes.Ldloc, cursors[program.Inputs.Length + ins.Aux]);
                    Operand(k, 0).Push(il);
                    ScalarCode.Store(il, program.Outputs[ins.Aux]);
                    break;
                default:
                    ScalarCode.Instruction(il, ins, Operand(k, 0), Operand(k, 1), Operand(k, 2));
                    Define(k, ProgramFacts.ResultType(ins)!.Value);
                    break;
            }
            foreach (int def in facts.DyingAt(k))
                if (!_constant[def]) pool.Return(_values[def]!);
        }
    }

    private void Define(int k, ComputeType type)
    {
        var local = pool.Rent(ScalarCode.ClrType(type));
        il.Emit(OpCodes.Stloc, local);
        _values[k] = local;
    }

    private ScalarOperand Operand(int k, int slot) =>
        slot < facts.OperandCount(k) ? new ScalarOperand(_values[facts.Operand(k, slot)]!) : default;
}
