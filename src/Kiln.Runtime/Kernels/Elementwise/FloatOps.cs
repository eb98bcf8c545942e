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
            case EwOp.Sin: Map<Sin>(regs, ins, n); break;
            case EwOp.Cos: Map<Cos>(regs, ins, n); break;
            case EwOp.Tan: Map<Tan>(regs, ins, n); break;
            case EwOp.Asin: Map<Asin>(regs, ins, n); break;
            case EwOp.Acos: Map<Acos>(regs, ins, n); break;
            case EwOp.Atan: Map<Atan>(regs, ins, n); break;
            case EwOp.Sinh: Map<Sinh>(regs, ins, n); break;
            case EwOp.Cosh: Map<Cosh>(regs, ins, n); break;
            case EwOp.Tanh: Map<Tanh>(regs, ins, n); break;
            case EwOp.Asinh: Map<Asinh>(regs, ins, n); break;
            case EwOp.Acosh: Map<Acosh>(regs, ins, n); break;
            case EwOp.Atanh: Map<Atanh>(regs, ins, n); break;
            case EwOp.Erf: Map<Erf>(regs, ins, n); break;
            case EwOp.Round: Map<RoundEven>(regs, ins, n); break;
            case EwOp.Sign: Map<Sign>(regs, ins, n); break;
            case EwOp.Sigmoid: Map<Sigmoid>(regs, ins, n); break;
            case EwOp.IsNaN:
            {
                var a = Reg(regs, ins.A, n);
                var d = ElementwiseKernel.Slot(regs, ins.Dst);
                for (int i = 0; i < n; i++) d[i] = T.IsNaN(a[i]) ? 1 : 0;
                break;
            }
            case EwOp.IsInf:
            {
                bool pos = (ins.Flags & 1) != 0, neg = (ins.Flags & 2) != 0;
                var a = Reg(regs, ins.A, n);
                var d = ElementwiseKernel.Slot(regs, ins.Dst);
                for (int i = 0; i < n; i++) d[i] = (pos && T.IsPositiveInfinity(a[i])) || (neg && T.IsNegativeInfinity(a[i])) ? 1 : 0;
                break;
            }
            case EwOp.Add: TensorPrimitives.Add<T>(Reg(regs, ins.A, n), Reg(regs, ins.B, n), dst); break;
            case EwOp.Sub: TensorPrimitives.Subtract<T>(Reg(regs, ins.A, n), Reg(regs, ins.B, n), dst); break;
            case EwOp.Mul: TensorPrimitives.Multiply<T>(Reg(regs, ins.A, n), Reg(regs, ins.B, n), dst); break;
            case EwOp.Div: TensorPrimitives.Divide<T>(Reg(regs, ins.A, n), Reg(regs, ins.B, n), dst); break;
            case EwOp.Min: TensorPrimitives.Min<T>(Reg(regs, ins.A, n), Reg(regs, ins.B, n), dst); break;
            case EwOp.Max: TensorPrimitives.Max<T>(Reg(regs, ins.A, n), Reg(regs, ins.B, n), dst); break;
            case EwOp.Mod: Map2<FMod>(regs, ins, n); break; // fmod: the sign of the dividend
            case EwOp.Pow: Map2<Pow>(regs, ins, n); break;
            case EwOp.Eq: Compare<Eq>(regs, ins, n); break;
            case EwOp.Ne: Compare<Ne>(regs, ins, n); break;
            case EwOp.Lt: Compare<Lt>(regs, ins, n); break;
            case EwOp.Le: Compare<Le>(regs, ins, n); break;
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

    // One small struct per function, driven by generic loops (no delegates: no calls per element,
    // and no compiler-cached delegates, which would be static state). Internal: generated code calls
    // the same functions, so every renderer computes them alike.
    internal interface IUnary { static abstract T Invoke(T x); }
    internal interface IBinary { static abstract T Invoke(T a, T b); }
    internal interface ICompare { static abstract bool Invoke(T a, T b); }

    internal struct Sin : IUnary { public static T Invoke(T x) => T.Sin(x); }
    internal struct Cos : IUnary { public static T Invoke(T x) => T.Cos(x); }
    internal struct Tan : IUnary { public static T Invoke(T x) => T.Tan(x); }
    internal struct Asin : IUnary { public static T Invoke(T x) => T.Asin(x); }
    internal struct Acos : IUnary { public static T Invoke(T x) => T.Acos(x); }
    internal struct Atan : IUnary { public static T Invoke(T x) => T.Atan(x); }
    internal struct Sinh : IUnary { public static T Invoke(T x) => T.Sinh(x); }
    internal struct Cosh : IUnary { public static T Invoke(T x) => T.Cosh(x); }
    internal struct Tanh : IUnary { public static T Invoke(T x) => T.Tanh(x); }
    internal struct Asinh : IUnary { public static T Invoke(T x) => T.Asinh(x); }
    internal struct Acosh : IUnary { public static T Invoke(T x) => T.Acosh(x); }
    internal struct Atanh : IUnary { public static T Invoke(T x) => T.Atanh(x); }
    internal struct Erf : IUnary { public static T Invoke(T x) => T.CreateTruncating(ScalarMath.Erf(double.CreateTruncating(x))); }
    internal struct RoundEven : IUnary { public static T Invoke(T x) => T.Round(x, MidpointRounding.ToEven); }
    internal struct Sign : IUnary { public static T Invoke(T x) => T.IsNaN(x) ? x : x > T.Zero ? T.One : x < T.Zero ? -T.One : T.Zero; }
    internal struct Sigmoid : IUnary { public static T Invoke(T x) => x >= T.Zero ? T.One / (T.One + T.Exp(-x)) : T.Exp(x) / (T.One + T.Exp(x)); }
    internal struct FMod : IBinary { public static T Invoke(T a, T b) => a % b; }
    internal struct Pow : IBinary { public static T Invoke(T a, T b) => T.Pow(a, b); }
    internal struct Eq : ICompare { public static bool Invoke(T a, T b) => a == b; }
    internal struct Ne : ICompare { public static bool Invoke(T a, T b) => a != b; }
    internal struct Lt : ICompare { public static bool Invoke(T a, T b) => a < b; }
    internal struct Le : ICompare { public static bool Invoke(T a, T b) => a <= b; }

    private static void Map<TOp>(Span<long> regs, EwInstruction ins, int n) where TOp : IUnary
    {
        var a = Reg(regs, ins.A, n);
        var d = Reg(regs, ins.Dst, n);
        for (int i = 0; i < n; i++) d[i] = TOp.Invoke(a[i]);
    }

    private static void Map2<TOp>(Span<long> regs, EwInstruction ins, int n) where TOp : IBinary
    {
        var a = Reg(regs, ins.A, n);
        var b = Reg(regs, ins.B, n);
        var d = Reg(regs, ins.Dst, n);
        for (int i = 0; i < n; i++) d[i] = TOp.Invoke(a[i], b[i]);
    }

    private static void Compare<TOp>(Span<long> regs, EwInstruction ins, int n) where TOp : ICompare
    {
        var a = Reg(regs, ins.A, n);
        var b = Reg(regs, ins.B, n);
        var d = ElementwiseKernel.Slot(regs, ins.Dst);
        for (int i = 0; i < n; i++) d[i] = TOp.Invoke(a[i], b[i]) ? 1 : 0;
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
                case EwOp.Abs: for (int i = 0; i < n; i++) d[i] = ScalarMath.Abs(a[i]); return;
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
                case EwOp.Div: for (int i = 0; i < n; i++) d[i] = ScalarMath.Div(a[i], b[i]); break;
                case EwOp.DivU: for (int i = 0; i < n; i++) d[i] = ScalarMath.DivU(a[i], b[i]); break;
                case EwOp.Mod: for (int i = 0; i < n; i++) d[i] = ScalarMath.Mod(a[i], b[i]); break;
                case EwOp.FMod: for (int i = 0; i < n; i++) d[i] = ScalarMath.FMod(a[i], b[i]); break;
                case EwOp.ModU: for (int i = 0; i < n; i++) d[i] = ScalarMath.ModU(a[i], b[i]); break;
                case EwOp.Pow: for (int i = 0; i < n; i++) d[i] = ScalarMath.PowInt(a[i], b[i]); break;
                case EwOp.Min: TensorPrimitives.Min<long>(a, b, d); break;
                case EwOp.Max: TensorPrimitives.Max<long>(a, b, d); break;
                case EwOp.MinU: for (int i = 0; i < n; i++) d[i] = ScalarMath.MinU(a[i], b[i]); break;
                case EwOp.MaxU: for (int i = 0; i < n; i++) d[i] = ScalarMath.MaxU(a[i], b[i]); break;
                case EwOp.BitAnd: TensorPrimitives.BitwiseAnd<long>(a, b, d); break;
                case EwOp.BitOr: TensorPrimitives.BitwiseOr<long>(a, b, d); break;
                case EwOp.BitXor: TensorPrimitives.Xor<long>(a, b, d); break;
                case EwOp.Shl: for (int i = 0; i < n; i++) d[i] = ScalarMath.Shl(a[i], b[i]); break;
                case EwOp.ShrU: for (int i = 0; i < n; i++) d[i] = ScalarMath.ShrU(a[i], b[i]); break;
                case EwOp.ShrS: for (int i = 0; i < n; i++) d[i] = ScalarMath.ShrS(a[i], b[i]); break;
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
