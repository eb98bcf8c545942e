using System.Numerics;
using Kiln.Runtime.Hal;

namespace Kiln.Runtime.Kernels.Gemm;

/// <summary>
/// The matrix product of <see cref="MatMulKernel"/> for float64 (accumulated in double) and the
/// integer types (accumulated in 64 bits and wrapped to the type on store, which equals wrapping
/// after every operation). A plain row-times-matrix loop over a strip of columns: these types are
/// rare in models, so correctness and simplicity come first. Stateless; thread-safe.
/// </summary>
internal static unsafe class PlainProduct
{
    private const int Strip = 256;

    public static void Run(DType dtype, in DispatchState d, (long A, long B) offsets, long batch, long i0, long i1, long j0, long j1)
    {
        switch (dtype)
        {
            case DType.Float64: Product<double, double>(d, offsets, batch, i0, i1, j0, j1); break;
            case DType.Int8: Product<sbyte, long>(d, offsets, batch, i0, i1, j0, j1); break;
            case DType.UInt8: Product<byte, long>(d, offsets, batch, i0, i1, j0, j1); break;
            case DType.Int16: Product<short, long>(d, offsets, batch, i0, i1, j0, j1); break;
            case DType.UInt16: Product<ushort, long>(d, offsets, batch, i0, i1, j0, j1); break;
            case DType.Int32: Product<int, long>(d, offsets, batch, i0, i1, j0, j1); break;
            case DType.UInt32: Product<uint, long>(d, offsets, batch, i0, i1, j0, j1); break;
            case DType.Int64: Product<long, long>(d, offsets, batch, i0, i1, j0, j1); break;
            case DType.UInt64: Product<ulong, long>(d, offsets, batch, i0, i1, j0, j1); break;
            default: throw new KilnRuntimeException(StatusCode.Unsupported, $"matmul: {dtype.Name()} is not supported");
        }
    }

    private static void Product<T, TAcc>(in DispatchState d, (long A, long B) offsets, long batch, long i0, long i1, long j0, long j1)
        where T : unmanaged, INumberBase<T> where TAcc : unmanaged, INumber<TAcc>
    {
        long m = d.Constant(0), n = d.Constant(1), k = d.Constant(2);
        long ars = d.Constant(3), aks = d.Constant(4), bks = d.Constant(5), bcs = d.Constant(6);
        T* a = (T*)d.Binding(0).Data + offsets.A;
        T* b = (T*)d.Binding(1).Data + offsets.B;
        T* c = (T*)d.Binding(2).Data + batch * m * n;
        Span<TAcc> acc = stackalloc TAcc[Strip];
        for (long js = j0; js < j1; js += Strip)
        {
            int width = (int)Math.Min(Strip, j1 - js);
            for (long i = i0; i < i1; i++)
            {
                var row = acc[..width];
                row.Clear();
                for (long p = 0; p < k; p++)
                {
                    var av = TAcc.CreateTruncating(a[i * ars + p * aks]);
                    T* bRow = b + p * bks + js * bcs;
                    for (int j = 0; j < width; j++) row[j] += av * TAcc.CreateTruncating(bRow[j * bcs]);
                }
                T* cRow = c + i * n + js;
                for (int j = 0; j < width; j++) cRow[j] = T.CreateTruncating(row[j]);
            }
        }
    }
}
