using System.Diagnostics.CodeAnalysis;
using System.Reflection.Emit;
using System.Runtime.Intrinsics;
using Kiln.Runtime.Kernels.Elementwise;

namespace Kiln.Runtime.Kernels.Il;

/// <summary>
/// Runs a program over one row of its iteration space: <paramref name="count"/> elements, operand k
/// starting at <c>pointers[k]</c> and advancing <c>strides[k]</c> elements per element (inputs, then
/// outputs, as the program's bindings).
/// </summary>
public unsafe delegate void ElementwiseRow(byte** pointers, long* strides, long count);

/// <summary>
/// The IL renderer of the elementwise kernel IR: turns an <see cref="ElementwiseProgram"/> into a
/// <see cref="DynamicMethod"/> specialized to it, which the JIT compiles like hand-written code.
/// The method runs one row (see <see cref="ElementwiseRow"/>):
/// <code>
/// if every output's stride is 1, every input's 0 or 1, and the row holds a vector:
///     vector loop over whole vectors (broadcast inputs read a buffer of their element repeated)
/// scalar loop over the rest (any strides), each operand through a cursor advanced by its stride
/// </code>
/// The generated code depends only on the program (rule 6), so it can be cached by the kernel's
/// content hash. Not thread-safe (the loader renders one program at a time).
/// </summary>
[RequiresDynamicCode("Generates code at run time with System.Reflection.Emit.")]
public sealed class ElementwiseRenderer
{
    private readonly VectorApi? _vectors;

    /// <param name="vectorBytes">Vector width of the vector loop: 64, 32 or 16 bytes, or 0 for the scalar loop only.</param>
    public ElementwiseRenderer(int vectorBytes)
    {
        _vectors = vectorBytes == 0 ? null : new VectorApi(vectorBytes);
    }

    /// <summary>The widest vector width the processor runs natively (0 without SIMD).</summary>
    public static int NativeVectorBytes =>
        Vector512.IsHardwareAccelerated ? 64 : Vector256.IsHardwareAccelerated ? 32 : Vector128.IsHardwareAccelerated ? 16 : 0;

    public int VectorBytes => _vectors?.Bytes ?? 0;

    /// <summary>
    /// Whether this renderer generates code for the program: element types of a byte or more (not
    /// the float8/float4/e8m0 formats or the packed 2- and 4-bit integers), rounding to float16 or
    /// bfloat16 only. The loader runs other programs on the portable interpreter.
    /// </summary>
    public static bool CanRender(ElementwiseProgram program)
    {
        static bool Renderable(DType t) => t is DType.Float32 or DType.Float64 or DType.Float16 or DType.BFloat16 or DType.Bool
            or DType.Int8 or DType.Int16 or DType.Int32 or DType.Int64 or DType.UInt8 or DType.UInt16 or DType.UInt32 or DType.UInt64;
        foreach (var t in program.Inputs) if (!Renderable(t)) return false;
        foreach (var t in program.Outputs) if (!Renderable(t)) return false;
        foreach (var ins in program.Instructions)
            if (ins.Op == EwOp.RoundTo && (DType)ins.Aux is not (DType.Float16 or DType.BFloat16)) return false;
        return true;
    }

    /// <summary>Renders a (decoded, verified) program. The method is compiled by the JIT on its first call.</summary>
    public unsafe ElementwiseRow Render(ElementwiseProgram program)
    {
        var method = new DynamicMethod("kiln.elementwise", typeof(void), [typeof(byte**), typeof(long*), typeof(long)],
            typeof(ElementwiseRenderer).Module, skipVisibility: true);
        new RowEmitter(method.GetILGenerator(), program, _vectors).Emit();
        return method.CreateDelegate<ElementwiseRow>();
    }

    /// <summary>Emits one row method: prologue, vector loop, scalar loop.</summary>
    [RequiresDynamicCode("Generates code at run time with System.Reflection.Emit.")]
    private sealed class RowEmitter
    {
        private readonly ILGenerator _il;
        private readonly ElementwiseProgram _program;
        private readonly VectorApi? _vectors;
        private readonly ProgramFacts _facts;
        private readonly LocalPool _pool;
        private readonly int _inputs;
        private readonly bool[] _used;          // per operand: inputs the program never loads are never touched
        private readonly DType[] _dtypes;
        private readonly LocalBuilder?[] _start; // per operand: the row's first element
        private readonly LocalBuilder?[] _stride; // per operand: its element stride (long)
        private LocalBuilder _count = null!, _index = null!;

        public RowEmitter(ILGenerator il, ElementwiseProgram program, VectorApi? vectors)
        {
            _il = il;
            _program = program;
            _vectors = vectors;
            _facts = new ProgramFacts(program);
            _pool = new LocalPool(il);
            _inputs = program.Inputs.Length;
            _dtypes = [.. program.Inputs, .. program.Outputs];
            _used = new bool[_dtypes.Length];
            for (int k = _inputs; k < _used.Length; k++) _used[k] = true;
            foreach (var ins in program.Instructions)
                if (ins.Op == EwOp.Load) _used[ins.Aux] = true;
            _start = new LocalBuilder?[_dtypes.Length];
            _stride = new LocalBuilder?[_dtypes.Length];
        }

        private IEnumerable<int> UsedOperands()
        {
            for (int k = 0; k < _used.Length; k++)
                if (_used[k]) yield return k;
        }

        public void Emit()
        {
            var il = _il;
            var done = il.DefineLabel();
            il.Emit(OpCodes.Ldarg_2);
            il.Emit(OpCodes.Ldc_I8, 0L);
            il.Emit(OpCodes.Ble, done);
            _count = il.DeclareLocal(typeof(nint));
            il.Emit(OpCodes.Ldarg_2);
            il.Emit(OpCodes.Conv_I);
            il.Emit(OpCodes.Stloc, _count);
            foreach (int k in UsedOperands())
            {
                _start[k] = il.DeclareLocal(typeof(byte*));
                il.Emit(OpCodes.Ldarg_0);
                il.Emit(OpCodes.Ldc_I4, k * IntPtr.Size);
                il.Emit(OpCodes.Add);
                il.Emit(OpCodes.Ldind_I);
                il.Emit(OpCodes.Stloc, _start[k]!);
                _stride[k] = il.DeclareLocal(typeof(long));
                il.Emit(OpCodes.Ldarg_1);
                il.Emit(OpCodes.Ldc_I4, k * sizeof(long));
                il.Emit(OpCodes.Add);
                il.Emit(OpCodes.Ldind_I8);
                il.Emit(OpCodes.Stloc, _stride[k]!);
            }
            _index = il.DeclareLocal(typeof(nint));
            il.Emit(OpCodes.Ldc_I4_0);
            il.Emit(OpCodes.Conv_I);
            il.Emit(OpCodes.Stloc, _index);
            if (_vectors is not null) EmitVectorLoop(_vectors);
            EmitScalarLoop(done);
            il.MarkLabel(done);
            il.Emit(OpCodes.Ret);
        }

        /// <summary>Whole vectors while the strides allow; leaves the index at the first element it did not do.</summary>
        private void EmitVectorLoop(VectorApi vectors)
        {
            var il = _il;
            var cursors = new LocalBuilder[_dtypes.Length];
            var body = new VectorBody(il, vectors, _program, _facts, _pool, cursors);
            int lanes = body.Lanes;
            var skip = il.DefineLabel();
            il.Emit(OpCodes.Ldloc, _count);
            il.Emit(OpCodes.Ldc_I4, lanes);
            il.Emit(OpCodes.Conv_I);
            il.Emit(OpCodes.Blt, skip);
            foreach (int k in UsedOperands())
            {
                // Outputs need stride 1; inputs 1 or 0 (unsigned compare: negative strides fail too).
                il.Emit(OpCodes.Ldloc, _stride[k]!);
                il.Emit(OpCodes.Ldc_I8, 1L);
                il.Emit(k < _inputs ? OpCodes.Bgt_Un : OpCodes.Bne_Un, skip);
            }
            var steps = new LocalBuilder?[_dtypes.Length];
            foreach (int k in UsedOperands())
            {
                cursors[k] = il.DeclareLocal(typeof(byte*));
                if (k < _inputs) steps[k] = BroadcastOrAdvance(k, cursors[k], lanes);
                else
                {
                    il.Emit(OpCodes.Ldloc, _start[k]!);
                    il.Emit(OpCodes.Stloc, cursors[k]);
                }
            }
            body.HoistConstants();
            var last = il.DeclareLocal(typeof(nint));
            il.Emit(OpCodes.Ldloc, _count);
            il.Emit(OpCodes.Ldc_I4, lanes);
            il.Emit(OpCodes.Sub);
            il.Emit(OpCodes.Stloc, last);
            var loop = il.DefineLabel();
            il.MarkLabel(loop);
            body.Emit();
            foreach (int k in UsedOperands())
            {
                il.Emit(OpCodes.Ldloc, cursors[k]);
                if (steps[k] is { } step) il.Emit(OpCodes.Ldloc, step);
                else il.Emit(OpCodes.Ldc_I4, lanes * _dtypes[k].Size());
                il.Emit(OpCodes.Add);
                il.Emit(OpCodes.Stloc, cursors[k]);
            }
            il.Emit(OpCodes.Ldloc, _index);
            il.Emit(OpCodes.Ldc_I4, lanes);
            il.Emit(OpCodes.Add);
            il.Emit(OpCodes.Stloc, _index);
            il.Emit(OpCodes.Ldloc, _index);
            il.Emit(OpCodes.Ldloc, last);
            il.Emit(OpCodes.Ble, loop);
            il.MarkLabel(skip);
        }

        /// <summary>
        /// Points an input's vector cursor at its row (step: one vector of elements), or, when it is
        /// broadcast along the row (stride 0), at a stack buffer holding its element once per lane (step 0).
        /// </summary>
        private LocalBuilder BroadcastOrAdvance(int k, LocalBuilder cursor, int lanes)
        {
            var il = _il;
            int size = _dtypes[k].Size();
            var step = il.DeclareLocal(typeof(nint));
            var unit = il.DefineLabel();
            var next = il.DefineLabel();
            il.Emit(OpCodes.Ldloc, _stride[k]!);
            il.Emit(OpCodes.Brtrue, unit);
            il.Emit(OpCodes.Ldc_I4, lanes * size);
            il.Emit(OpCodes.Conv_U);
            il.Emit(OpCodes.Localloc);
            il.Emit(OpCodes.Stloc, cursor);
            for (int j = 0; j < lanes; j++)
            {
                il.Emit(OpCodes.Ldloc, cursor);
                il.Emit(OpCodes.Ldc_I4, j * size);
                il.Emit(OpCodes.Add);
                il.Emit(OpCodes.Ldloc, _start[k]!);
                switch (size)
                {
                    case 8: il.Emit(OpCodes.Ldind_I8); il.Emit(OpCodes.Stind_I8); break;
                    case 4: il.Emit(OpCodes.Ldind_I4); il.Emit(OpCodes.Stind_I4); break;
                    case 2: il.Emit(OpCodes.Ldind_I2); il.Emit(OpCodes.Stind_I2); break;
                    default: il.Emit(OpCodes.Ldind_I1); il.Emit(OpCodes.Stind_I1); break;
                }
            }
            il.Emit(OpCodes.Ldc_I4_0);
            il.Emit(OpCodes.Conv_I);
            il.Emit(OpCodes.Stloc, step);
            il.Emit(OpCodes.Br, next);
            il.MarkLabel(unit);
            il.Emit(OpCodes.Ldloc, _start[k]!);
            il.Emit(OpCodes.Stloc, cursor);
            il.Emit(OpCodes.Ldc_I4, lanes * size);
            il.Emit(OpCodes.Conv_I);
            il.Emit(OpCodes.Stloc, step);
            il.MarkLabel(next);
            return step;
        }

        /// <summary>One element per iteration from the current index to the end of the row, at any strides.</summary>
        private void EmitScalarLoop(Label done)
        {
            var il = _il;
            il.Emit(OpCodes.Ldloc, _index);
            il.Emit(OpCodes.Ldloc, _count);
            il.Emit(OpCodes.Bge, done);
            var cursors = new LocalBuilder[_dtypes.Length];
            var steps = new LocalBuilder[_dtypes.Length];
            foreach (int k in UsedOperands())
            {
                steps[k] = il.DeclareLocal(typeof(nint));
                il.Emit(OpCodes.Ldloc, _stride[k]!);
                il.Emit(OpCodes.Ldc_I8, (long)_dtypes[k].Size());
                il.Emit(OpCodes.Mul);
                il.Emit(OpCodes.Conv_I);
                il.Emit(OpCodes.Stloc, steps[k]);
                cursors[k] = il.DeclareLocal(typeof(byte*));
                il.Emit(OpCodes.Ldloc, _start[k]!);
                il.Emit(OpCodes.Ldloc, _index);
                il.Emit(OpCodes.Ldloc, steps[k]);
                il.Emit(OpCodes.Mul);
                il.Emit(OpCodes.Add);
                il.Emit(OpCodes.Stloc, cursors[k]);
            }
            var body = new ScalarBody(il, _program, _facts, _pool, cursors);
            body.HoistConstants();
            var loop = il.DefineLabel();
            il.MarkLabel(loop);
            body.Emit();
            foreach (int k in UsedOperands())
            {
                il.Emit(OpCodes.Ldloc, cursors[k]);
                il.Emit(OpCodes.Ldloc, steps[k]);
                il.Emit(OpCodes.Add);
                il.Emit(OpCodes.Stloc, cursors[k]);
            }
            il.Emit(OpCodes.Ldloc, _index);
            il.Emit(OpCodes.Ldc_I4_1);
            il.Emit(OpCodes.Add);
            il.Emit(OpCodes.Stloc, _index);
            il.Emit(OpCodes.Ldloc, _index);
            il.Emit(OpCodes.Ldloc, _count);
            il.Emit(OpCodes.Blt, loop);
        }
    }
}
