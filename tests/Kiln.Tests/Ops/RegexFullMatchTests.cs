using Kiln.Ir;
using Kiln.Ops;

namespace Kiln.Tests.Ops;

/// <summary>RegexFullMatch follows RE2, not .NET, where the two differ.</summary>
public sealed class RegexFullMatchTests
{
    private static bool[] Match(string pattern, params string[] inputs)
    {
        var graph = IrParser.ParseGraph($$"""
            graph @main(%x: str[{{inputs.Length}}]) {
              %y = RegexFullMatch(%x) {pattern = "{{pattern.Replace("\\", "\\\\")}}"} : bool[{{inputs.Length}}]
              return %y
            }
            """);
        ShapeInference.Run(graph);
        var result = new ReferenceEvaluator().Run(graph, [TensorData.Create(ElementType.String, [inputs.Length], inputs)]);
        return ((TensorData)result[0]).Data<bool>();
    }

    [Fact]
    public void Word_and_digit_classes_are_ascii() =>
        Assert.Equal([true, false, false], Match(@"\w+\d", "abc1", "é1", "abc١"));

    [Fact]
    public void Dollar_is_the_end_of_the_text() =>
        Assert.Equal([true, false], Match(@"ab$", "ab", "ab\n"));

    [Fact]
    public void Re2_spellings_are_understood() =>
        Assert.Equal([true, false], Match(@"(?P<word>[[:alpha:]]+)\Q.*\E", "abc.*", "abcd"));

    [Fact]
    public void An_invalid_pattern_is_a_model_error() =>
        Assert.Equal(ErrorCode.InvalidModel, Assert.Throws<KilnException>(() => Match("(unclosed", "x")).Code);
}
