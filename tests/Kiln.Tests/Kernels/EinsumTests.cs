using Kiln.Ir;
using static Kiln.Tests.Kernels.KernelOracle;

namespace Kiln.Tests.Kernels;

/// <summary>Einsum (strided copies, sums and the "batched-matmul" kernel) against the reference.</summary>
public class EinsumTests
{
    private static void Einsum(string equation, ElementType type, params long[][] shapes)
    {
        var o = new KernelOracle();
        var inputs = shapes.Select((s, i) => (Value?)o.Input(Random(i + 1, type, s))).ToArray();
        o.Op("Einsum", inputs, [String("equation", equation)]);
        o.Check(1e-4, 1e-5);
    }

    [Theory]
    [InlineData(ElementType.Float32)]
    [InlineData(ElementType.Float64)]
    public void Products(ElementType type)
    {
        Einsum("ij,jk->ik", type, [3, 4], [4, 5]);
        Einsum("bij,bjk->bik", type, [2, 3, 4], [2, 4, 1100]);      // columns across tiles
        Einsum("ij,kj->ki", type, [3, 4], [5, 4]);
        Einsum("i,i", type, [7], [7]);
        Einsum("i,j->ij", type, [3], [4]);
        Einsum("...ij,...jk", type, [2, 1, 3, 4], [3, 4, 2]);       // broadcast ellipsis
        Einsum("ij,jk,kl->il", type, [2, 3], [3, 4], [4, 5]);
        Einsum("ijk,jl->il", type, [2, 3, 4], [3, 5]);             // k summed out of one operand first
        Einsum("bij,bjk->", type, [2, 3, 4], [2, 4, 3]);
        Einsum("ij,jk->ik", type, [3, 0], [0, 5]);                  // empty contraction
    }

    [Theory]
    [InlineData(ElementType.Float32)]
    [InlineData(ElementType.Int32)]
    [InlineData(ElementType.Float16)]
    public void SingleOperands(ElementType type)
    {
        Einsum("ij->ji", type, [3, 4]);
        Einsum("ij->i", type, [3, 4]);
        Einsum("ii->i", type, [4, 4]);
        Einsum("ii", type, [4, 4]);
        Einsum("...ii->...i", type, [2, 3, 3]);
        Einsum("ijk->kj", type, [2, 3, 4]);
        Einsum("->", type, new long[][] { [] });   // one scalar operand
    }
}
