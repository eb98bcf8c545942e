using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Kiln.Runtime.Kernels.Elementwise;

/// <summary>
/// Float instructions of elementwise programs over one tile, for float and double alike.
/// TensorPrimitives is used where it is exact to the last bits that matter (arithmetic, exp, log,
/// sqrt, min/max, floor/ceil); scalar loops elsewhere (its Tanh is inexact near zero).
/// </summary>
internal static class FloatOps<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static void Execute(EwInstruction ins, Span<long> regs, int n)
    {
        var dst = Reg(regs, ins.Dst, n);
        switch (ins.Op)
        {
            case EwOp.Neg: TensorPrimitives.Negate<T>(Reg(regs, ins.A, n), dst); break;
            case EwOp.Abs: TensorPrimitives.Abs<T>(Reg(regs, ins.A, n), dst); break;
            case EwOp.Exp: TensorPrimitives.Exp<T>(Reg(regs, ins.A, n), dst); break;
            case EwOp.Log: TensorPrimitives.Log<T>(Reg(regs, ins.A, n), dst); break;
            case EwOp.Sqrt: TensorPrimitives.Sqrt<T>(Reg(regs, ins.A, n), dst); break;
            case EwOp.Floor: TensorPrimitives.Floor<T>(Reg(regs, ins.A, n), dst); break;
            case EwOp.Ceil: TensorPrimitives.Ceiling<T>(Reg(regs, ins.A, n), dst); break;
            case EwOp.Reciprocal: TensorPrimitives.Reciprocal<T>(Reg(regs, ins.A, n), dst); break;
            case EwOp.Sin: Map(regs, ins, n, T.Sin); break;
            case EwOp.Cos: Map(regs, ins, n, T.Cos); break;
            case EwOp.Tan: Map(regs, ins, n, T.Tan); break;
            case EwOp.Asin: Map(regs, ins, n, T.Asin); break;
            case EwOp.Acos: Map(regs, ins, n, T.Acos); break;
            case EwOp.Atan: Map(regs, ins, n, T.Atan); break;
            case EwOp.Sinh: Map(regs, ins, n, T.Sinh); break;
            case EwOp.Cosh: Map(regs, ins, n, T.Cosh); break;
            case EwOp.Tanh: Map(regs, ins, n, T.Tanh); break;
            case EwOp.Asinh: Map(regs, ins, n, T.Asinh); break;
            case EwOp.Acosh: Map(regs, ins, n, T.Acosh); break;
            case EwOp.Atanh: Map(regs, ins, n, T.Atanh); break;
            case EwOp.Erf: Map(regs, ins, n, x => T.CreateTruncating(ScalarMath.Erf(double.CreateTruncating(x)))); break;
            case EwOp.Round: Map(regs, ins, n, x => T.Round(x, MidpointRounding.ToEven)); break;
            case EwOp.Sign: Map(regs, ins, n, x => T.IsNaN(x) ? x : x > T.Zero ? T.One : x < T.Zero ? -T.One : T.Zero); break;
            case EwOp.Sigmoid:
                Map(regs, ins, n, x => x >= T.Zero ? T.One / (T.One + T.Exp(-x)) : T.Exp(x) / (T.One + T.Exp(x)));
                break;
            case EwOp.IsNaN: Predicate(regs, ins, n, T.IsNaN); break;
            case EwOp.IsInf:
            {
                bool pos = (ins.Flags & 1) != 0, neg = (ins.Flags & 2) != 0;
                Predicate(regs, ins, n, x => (pos && T.IsPositiveInfinity(x)) || (neg && T.IsNegativeInfinity(x)));
                break;
            }
            case EwOp.Add: TensorPrimitives.Add<T>(Reg(regs, ins.A, n), Reg(regs, ins.B, n), dst); break;
            case EwOp.Sub: TensorPrimitives.Subtract<T>(Reg(regs, ins.A, n), Reg(regs, ins.B, n), dst); break;
            case EwOp.Mul: TensorPrimitives.Multiply<T>(Reg(regs, ins.A, n), Reg(regs, ins.B, n), dst); break;
            case EwOp.Div: TensorPrimitives.Divide<T>(Reg(regs, ins.A, n), Reg(regs, ins.B, n), dst); break;
            case EwOp.Min: TensorPrimitives.Min<T>(Reg(regs, ins.A, n), Reg(regs, ins.B, n), dst); break;
            case EwOp.Max: TensorPrimitives.Max<T>(Reg(regs, ins.A, n), Reg(regs, ins.B, n), dst); break;
            case EwOp.Mod: Map2(regs, ins, n, (a, b) => a % b); break; // fmod: the sign of the dividend
            case EwOp.Pow: Map2(regs, ins, n, T.Pow); break;
            case EwOp.Eq: Compare(regs, ins, n, (a, b) => a == b); break;
            case EwOp.Ne: Compare(regs, ins, n, (a, b) => a != b); break;
            case EwOp.Lt: Compare(regs, ins, n, (a, b) => a < b); break;
            case EwOp.Le: Compare(regs, ins, n, (a, b) => a <= b); break;
            case EwOp.MulAdd: TensorPrimitives.FusedMultiplyAdd<T>(Reg(regs, ins.A, n), Reg(regs, ins.B, n), Reg(regs, ins.C, n), dst); break;
            case EwOp.Select:
            {
                var c = ElementwiseKernel.Slot(regs, ins.A);
                var a = Reg(regs, ins.B, n);
                var b = Reg(regs, ins.C, n);
                for (int i = 0; i < n; i++) dst[i] = c[i] != 0 ? a[i] : b[i];
                break;
            }
            default: throw new KilnRuntimeException(StatusCode.InvalidModule, $"elementwise: {ins.Op} is not a float instruction");
        }
    }

    private static Span<T> Reg(Span<long> regs, int r, int n) => MemoryMarshal.Cast<long, T>(ElementwiseKernel.Slot(regs, r))[..n];

    private static void Map(Span<long> regs, EwInstruction ins, int n, Func<T, T> f)
    {
        var a = Reg(regs, ins.A, n);
        var d = Reg(regs, ins.Dst, n);
        for (int i = 0; i < n; i++) d[i] = f(a[i]);
    }

    private static void Map2(Span<long> regs, EwInstruction ins, int n, Func<T, T, T> f)
    {
        var a = Reg(regs, ins.A, n);
        var b = Reg(regs, ins.B, n);
        var d = Reg(regs, ins.Dst, n);
        for (int i = 0; i < n; i++) d[i] = f(a[i], b[i]);
    }

    private static void Predicate(Span<long> regs, EwInstruction ins, int n, Func<T, bool> f)
    {
        var a = Reg(regs, ins.A, n);
        var d = ElementwiseKernel.Slot(regs, ins.Dst);
        for (int i = 0; i < n; i++) d[i] = f(a[i]) ? 1 : 0;
    }

    private static void Compare(Span<long> regs, EwInstruction ins, int n, Func<T, T, bool> f)
    {
        var a = Reg(regs, ins.A, n);
        var b = Reg(regs, ins.B, n);
        var d = ElementwiseKernel.Slot(regs, ins.Dst);
        for (int i = 0; i < n; i++) d[i] = f(a[i], b[i]) ? 1 : 0;
    }
}

/// <summary>Integer (I64) instructions: two's-complement 64-bit arithmetic that wraps; unsigned variants where the sign matters.</summary>
internal static class IntegerOps
{
    public static void Execute(EwInstruction ins, Span<long> regs, int n)
    {
        var d = ElementwiseKernel.Slot(regs, ins.Dst)[..n];
        var a = ElementwiseKernel.Slot(regs, ins.A)[..n];
        unchecked
        {
            switch (ins.Op)
            {
                case EwOp.Neg: for (int i = 0; i < n; i++) d[i] = -a[i]; return;
                case EwOp.Abs: for (int i = 0; i < n; i++) d[i] = a[i] < 0 ? -a[i] : a[i]; return;
                case EwOp.Sign: for (int i = 0; i < n; i++) d[i] = Math.Sign(a[i]); return;
                case EwOp.Not: for (int i = 0; i < n; i++) d[i] = a[i] == 0 ? 1 : 0; return;
                case EwOp.BitNot: for (int i = 0; i < n; i++) d[i] = ~a[i]; return;
            }
            var b = ElementwiseKernel.Slot(regs, ins.B)[..n];
            switch (ins.Op)
            {
                case EwOp.Add: TensorPrimitives.Add<long>(a, b, d); break;
                case EwOp.Sub: TensorPrimitives.Subtract<long>(a, b, d); break;
                case EwOp.Mul: for (int i = 0; i < n; i++) d[i] = a[i] * b[i]; break;
                case EwOp.Div: for (int i = 0; i < n; i++) d[i] = b[i] == 0 ? 0 : b[i] == -1 ? -a[i] : a[i] / b[i]; break;
                case EwOp.DivU: for (int i = 0; i < n; i++) d[i] = b[i] == 0 ? 0 : (long)((ulong)a[i] / (ulong)b[i]); break;
                case EwOp.Mod:
                    for (int i = 0; i < n; i++)
                    {
                        if (b[i] == 0 || b[i] == -1) { d[i] = 0; continue; }
                        long r = a[i] % b[i];
                        d[i] = r != 0 && (r < 0) != (b[i] < 0) ? r + b[i] : r;
                    }
                    break;
                case EwOp.FMod: for (int i = 0; i < n; i++) d[i] = b[i] == 0 || b[i] == -1 ? 0 : a[i] % b[i]; break;
                case EwOp.ModU: for (int i = 0; i < n; i++) d[i] = b[i] == 0 ? 0 : (long)((ulong)a[i] % (ulong)b[i]); break;
                case EwOp.Pow: for (int i = 0; i < n; i++) d[i] = ScalarMath.PowInt(a[i], b[i]); break;
                case EwOp.Min: TensorPrimitives.Min<long>(a, b, d); break;
                case EwOp.Max: TensorPrimitives.Max<long>(a, b, d); break;
                case EwOp.MinU: for (int i = 0; i < n; i++) d[i] = (ulong)a[i] <= (ulong)b[i] ? a[i] : b[i]; break;
                case EwOp.MaxU: for (int i = 0; i < n; i++) d[i] = (ulong)a[i] >= (ulong)b[i] ? a[i] : b[i]; break;
                case EwOp.BitAnd: TensorPrimitives.BitwiseAnd<long>(a, b, d); break;
                case EwOp.BitOr: TensorPrimitives.BitwiseOr<long>(a, b, d); break;
                case EwOp.BitXor: TensorPrimitives.Xor<long>(a, b, d); break;
                case EwOp.Shl: for (int i = 0; i < n; i++) d[i] = (ulong)b[i] >= 64 ? 0 : a[i] << (int)b[i]; break;
                case EwOp.ShrU: for (int i = 0; i < n; i++) d[i] = (ulong)b[i] >= 64 ? 0 : (long)((ulong)a[i] >> (int)b[i]); break;
                case EwOp.ShrS: for (int i = 0; i < n; i++) d[i] = (ulong)b[i] >= 64 ? (a[i] < 0 ? -1 : 0) : a[i] >> (int)b[i]; break;
                case EwOp.Eq: for (int i = 0; i < n; i++) d[i] = a[i] == b[i] ? 1 : 0; break;
                case EwOp.Ne: for (int i = 0; i < n; i++) d[i] = a[i] != b[i] ? 1 : 0; break;
                case EwOp.Lt: for (int i = 0; i < n; i++) d[i] = a[i] < b[i] ? 1 : 0; break;
                case EwOp.Le: for (int i = 0; i < n; i++) d[i] = a[i] <= b[i] ? 1 : 0; break;
                case EwOp.LtU: for (int i = 0; i < n; i++) d[i] = (ulong)a[i] < (ulong)b[i] ? 1 : 0; break;
                case EwOp.LeU: for (int i = 0; i < n; i++) d[i] = (ulong)a[i] <= (ulong)b[i] ? 1 : 0; break;
                case EwOp.MulAdd:
                {
                    var c = ElementwiseKernel.Slot(regs, ins.C)[..n];
                    for (int i = 0; i < n; i++) d[i] = a[i] * b[i] + c[i];
                    break;
                }
                case EwOp.Select:
                {
                    var c = ElementwiseKernel.Slot(regs, ins.C)[..n];
                    for (int i = 0; i < n; i++) d[i] = a[i] != 0 ? b[i] : c[i];
                    break;
                }
                default: throw new KilnRuntimeException(StatusCode.InvalidModule, $"elementwise: {ins.Op} is not an integer instruction");
            }
        }
    }
}
