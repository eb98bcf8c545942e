using System.Runtime.CompilerServices;
using Kiln.Runtime.Format;

namespace Kiln.Runtime.Vm;

/// <summary>
/// Executes verified bytecode. Operands are read straight from the module's bytes without bounds
/// checks (the verifier did them at load); arithmetic is checked, and failures carry the function
/// name and code offset.
/// </summary>
internal static unsafe class Interpreter
{
    public static void Run(Invocation inv, int function, ReadOnlySpan<long> valueArgs, ReadOnlySpan<object?> refArgs,
        Span<long> valueResults, Span<object?> refResults, int valueBase, int refBase)
    {
        var module = inv.Context.Module;
        var f = module.Function(function);
        if (++inv.CallDepth > Invocation.MaxCallDepth)
            throw new KilnRuntimeException(StatusCode.ResourceExhausted, $"calls nest deeper than {Invocation.MaxCallDepth} (in '{module.FunctionName(function)}')");
        EnsureCapacity(ref inv.Values, valueBase + f.ValueRegisters);
        EnsureCapacity(ref inv.Refs, refBase + f.RefRegisters);
        var v = inv.Values.AsSpan(valueBase, f.ValueRegisters);
        var r = inv.Refs.AsSpan(refBase, f.RefRegisters);
        valueArgs.CopyTo(v);
        refArgs.CopyTo(r);

        byte* code = module.Code(function, out _);
        int pc = 0, backwardBranches = 0;
        inv.CheckInterrupt(module.FunctionName(function));
        try
        {
            while (true)
            {
                int at = pc;
                var op = (Opcode)code[pc++];
                switch (op)
                {
                    case Opcode.Nop: break;
                    case Opcode.Fail:
                        throw new KilnRuntimeException(StatusCode.Aborted, module.String(new StringRef { Offset = U32(code, ref pc), Length = U32(code, ref pc) }));
                    case Opcode.Return:
                    {
                        int nv = code[pc++];
                        for (int i = 0; i < nv; i++) valueResults[i] = v[Reg(code, ref pc)];
                        int nr = code[pc++];
                        for (int i = 0; i < nr; i++) refResults[i] = r[Reg(code, ref pc)];
                        r.Clear(); // drop references held by this frame
                        inv.CallDepth--;
                        return;
                    }
                    case Opcode.Call:
                        CallFunction(inv, code, ref pc, v, r, valueBase, refBase, valueBase + f.ValueRegisters, refBase + f.RefRegisters);
                        v = inv.Values.AsSpan(valueBase, f.ValueRegisters); // the callee may have grown the stacks
                        r = inv.Refs.AsSpan(refBase, f.RefRegisters);
                        break;
                    case Opcode.CallImport: CallImport(inv, code, ref pc, v, r); break;
                    case Opcode.Branch: pc = Jump(inv, module, function, at, (int)U32(code, ref pc), ref backwardBranches); break;
                    case Opcode.BranchIf: { long c = v[Reg(code, ref pc)]; uint t = U32(code, ref pc); if (c != 0) pc = Jump(inv, module, function, at, (int)t, ref backwardBranches); break; }
                    case Opcode.BranchUnless: { long c = v[Reg(code, ref pc)]; uint t = U32(code, ref pc); if (c == 0) pc = Jump(inv, module, function, at, (int)t, ref backwardBranches); break; }
                    case Opcode.Assert:
                    {
                        long c = v[Reg(code, ref pc)];
                        var text = new StringRef { Offset = U32(code, ref pc), Length = U32(code, ref pc) };
                        if (c == 0) throw new KilnRuntimeException(StatusCode.InvalidArgument, module.String(text));
                        break;
                    }
                    case Opcode.ConstI64: { ushort d = Reg(code, ref pc); v[d] = Unsafe.ReadUnaligned<long>(code + pc); pc += 8; break; }
                    case Opcode.Move: { ushort d = Reg(code, ref pc); v[d] = v[Reg(code, ref pc)]; break; }
                    case Opcode.MoveRef: { ushort d = Reg(code, ref pc); r[d] = r[Reg(code, ref pc)]; break; }
                    case Opcode.ClearRef: r[Reg(code, ref pc)] = null; break;
                    case Opcode.IsNull: { ushort d = Reg(code, ref pc); v[d] = r[Reg(code, ref pc)] is null ? 1 : 0; break; }
                    case Opcode.GlobalLoad: { ushort d = Reg(code, ref pc); v[d] = inv.Context.GlobalValues[U32(code, ref pc)]; break; }
                    case Opcode.GlobalStore: { uint g = U32(code, ref pc); inv.Context.GlobalValues[g] = v[Reg(code, ref pc)]; break; }
                    case Opcode.GlobalLoadRef: { ushort d = Reg(code, ref pc); r[d] = inv.Context.GlobalRefs[U32(code, ref pc)]; break; }
                    case Opcode.GlobalStoreRef: { uint g = U32(code, ref pc); inv.Context.GlobalRefs[g] = r[Reg(code, ref pc)]; break; }
                    case Opcode.Select:
                    {
                        ushort d = Reg(code, ref pc), c = Reg(code, ref pc), a = Reg(code, ref pc), b = Reg(code, ref pc);
                        v[d] = v[c] != 0 ? v[a] : v[b];
                        break;
                    }
                    default:
                    {
                        ushort d = Reg(code, ref pc), a = Reg(code, ref pc), b = Reg(code, ref pc);
                        v[d] = Arithmetic(op, v[a], v[b], module, function, at);
                        break;
                    }
                }
            }
        }
        catch (OverflowException)
        {
            throw new KilnRuntimeException(StatusCode.OutOfRange, $"integer overflow in '{module.FunctionName(function)}' at {pc}");
        }
    }

    /// <summary>A branch; every 1024th backward branch checks for cancellation and the deadline, so no loop can hang a caller.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Jump(Invocation inv, Module m, int function, int at, int target, ref int backwardBranches)
    {
        if (target <= at && (++backwardBranches & 1023) == 0) inv.CheckInterrupt(m.FunctionName(function));
        return target;
    }

    private static long Arithmetic(Opcode op, long a, long b, Module m, int function, int at)
    {
        switch (op)
        {
            case Opcode.Add: return checked(a + b);
            case Opcode.Sub: return checked(a - b);
            case Opcode.Mul: return checked(a * b);
            case Opcode.DivFloor or Opcode.DivCeil or Opcode.ModFloor:
                if (b == 0) throw new KilnRuntimeException(StatusCode.OutOfRange, $"division by zero in '{m.FunctionName(function)}' at {at}");
                if (a == long.MinValue && b == -1) throw new OverflowException();
                long q = a / b, rem = a % b;
                bool inexact = rem != 0;
                return op switch
                {
                    Opcode.DivFloor => inexact && (a < 0) != (b < 0) ? q - 1 : q,
                    Opcode.DivCeil => inexact && (a < 0) == (b < 0) ? q + 1 : q,
                    _ => inexact && (a < 0) != (b < 0) ? rem + b : rem,
                };
            case Opcode.Min: return Math.Min(a, b);
            case Opcode.Max: return Math.Max(a, b);
            case Opcode.Eq: return a == b ? 1 : 0;
            case Opcode.Ne: return a != b ? 1 : 0;
            case Opcode.Lt: return a < b ? 1 : 0;
            case Opcode.Le: return a <= b ? 1 : 0;
            case Opcode.And: return a & b;
            case Opcode.Or: return a | b;
            case Opcode.Xor: return a ^ b;
            case Opcode.Shl: return (ulong)b >= 64 ? 0 : a << (int)b;
            case Opcode.ShrS: return (ulong)b >= 64 ? (a < 0 ? -1 : 0) : a >> (int)b;
            default: throw new KilnRuntimeException(StatusCode.InvalidModule, $"unknown opcode {op}");
        }
    }

    /// <summary>Calls a VM function; its frame starts right after the caller's. Results go to the caller's registers by absolute index, since the callee may reallocate the stacks.</summary>
    private static void CallFunction(Invocation inv, byte* code, ref int pc, Span<long> v, Span<object?> r, int callerValueBase, int callerRefBase, int valueTop, int refTop)
    {
        int callee = (int)U32(code, ref pc);
        var cf = inv.Context.Module.Function(callee);
        int n = code[pc++];
        Span<long> va = stackalloc long[n];
        for (int i = 0; i < n; i++) va[i] = v[Reg(code, ref pc)];
        n = code[pc++];
        var ra = new object?[n];
        for (int i = 0; i < n; i++) ra[i] = r[Reg(code, ref pc)];
        Span<long> vr = stackalloc long[cf.ValueResults];
        var rr = new object?[cf.RefResults];
        Run(inv, callee, va, ra, vr, rr, valueTop, refTop);
        n = code[pc++];
        for (int i = 0; i < n; i++) inv.Values[callerValueBase + Reg(code, ref pc)] = vr[i];
        n = code[pc++];
        for (int i = 0; i < n; i++) inv.Refs[callerRefBase + Reg(code, ref pc)] = rr[i];
    }

    private static void CallImport(Invocation inv, byte* code, ref int pc, Span<long> v, Span<object?> r)
    {
        int index = (int)U32(code, ref pc);
        int nva = code[pc++];
        EnsureCapacity(ref inv.ScratchValues, nva + 8);
        var va = inv.ScratchValues.AsSpan(0, nva);
        for (int i = 0; i < nva; i++) va[i] = v[Reg(code, ref pc)];
        int nra = code[pc++];
        EnsureCapacity(ref inv.ScratchRefs, nra + 8);
        var ra = inv.ScratchRefs.AsSpan(0, nra);
        for (int i = 0; i < nra; i++) ra[i] = r[Reg(code, ref pc)];
        int nvr = code[pc];
        Span<long> vr = stackalloc long[nvr];
        int resultStart = pc;
        pc += 1 + 2 * nvr;
        int nrr = code[pc];
        var rr = nrr == 0 ? [] : new object?[nrr];
        var call = new NativeCall { Invocation = inv, Values = va, Refs = ra, ValueResults = vr, RefResults = rr };
        inv.Context.Import(index)(ref call);
        ra.Clear();
        pc = resultStart + 1;
        for (int i = 0; i < nvr; i++) v[Reg(code, ref pc)] = vr[i];
        pc++;
        for (int i = 0; i < nrr; i++) r[Reg(code, ref pc)] = rr[i];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ushort Reg(byte* code, ref int pc) { ushort x = Unsafe.ReadUnaligned<ushort>(code + pc); pc += 2; return x; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint U32(byte* code, ref int pc) { uint x = Unsafe.ReadUnaligned<uint>(code + pc); pc += 4; return x; }

    private static void EnsureCapacity<T>(ref T[] array, int needed)
    {
        if (needed > array.Length) Array.Resize(ref array, Math.Max(needed, array.Length * 2));
    }
}
