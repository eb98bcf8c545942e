using Kiln.Ir;
using Kiln.Ops;
using static Kiln.Tests.Kernels.KernelOracle;

namespace Kiln.Tests.Kernels;

/// <summary>NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (the "nll-loss" kernel after a LogSoftmax) against the reference.</summary>
public class LossTests
{
    private static void Loss(string op, long[] shape, bool weight, string reduction, long? ignore, ElementType type = ElementType.Float32, ElementType targetType = ElementType.Int64)
    {
        var o = new KernelOracle();
        long classes = shape[1];
        var targetShape = shape.Where((_, i) => i != 1).ToArray();
        var r = new Random(1);
        var targets = Enumerable.Range(0, (int)targetShape.Aggregate(1L, (a, b) => a * b)).Select(_ => (long)r.Next((int)classes)).ToArray();
        if (ignore is { } ii && targets.Length > 2) targets[1] = ii;
        var target = Conversions.Convert(TensorData.FromInt64s(targetShape, targets), targetType);
        var attributes = new List<(string, AttributeValue)> { String("reduction", reduction) };
        if (ignore is { } i) attributes.Add(Int("ignore_index", i));
        o.Op(op, [o.Input(Random(2, type, shape)), o.Input(target), weight ? o.Input(Random(3, type, classes)) : null], [.. attributes],
            outputs: op == "SoftmaxCrossEntropyLoss" ? 2 : 1);
        o.Check(type == ElementType.Float32 ? 1e-4 : 1e-2);
    }

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var op in new[] { "NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss" })
            foreach (var reduction in new[] { "none", "sum", "mean" })
                data.Add(op, reduction);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ShapesWeightsAndIgnoredTargets(string op, string reduction)
    {
        Loss(op, [4, 5], weight: false, reduction, ignore: null);
        Loss(op, [3, 4, 2, 3], weight: true, reduction, ignore: 2);
        Loss(op, [2, 3, 5], weight: true, reduction, ignore: -1, targetType: ElementType.Int32);
        Loss(op, [2, 6, 3], weight: false, reduction, ignore: null, type: ElementType.Float16);
    }

    [Fact]
    public void TargetsOutsideTheClassesFail()
    {
        var o = new KernelOracle();
        o.Op("NegativeLogLikelihoodLoss", [o.Input(Floats(4, 2, 3)), o.Input(TensorData.Vector(1, 3))]);
        o.CheckFails("target 3 at position 1 is not a class index");
    }
}
