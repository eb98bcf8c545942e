using System.Buffers.Binary;
using Kiln.Compiler;
using Kiln.Compiler.ModuleWriter;
using Kiln.Compiler.Targets;
using Kiln.Conformance;
using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime;
using Kiln.Runtime.Format;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Vm;
using Module = Kiln.Runtime.Module;

namespace Kiln.Tests.Runtime;

/// <summary>
/// String tensors on the compiled path: string operators (alone and mixed with numeric ones) against
/// the reference evaluator on both devices and targets; typed errors for inputs of the wrong kind or
/// shape, and for hostile string tables and "str" calls in modules.
/// </summary>
public sealed class StringValueTests
{
    public static IEnumerable<object[]> Configs() =>
        [["sync", CompileTarget.Portable], ["task", CompileTarget.Portable], ["sync", CompileTarget.Il], ["task", CompileTarget.Il]];

    private static Model Parse(string text)
    {
        var model = new Model(IrParser.ParseGraph(text));
        model.OpsetImports[""] = 20;
        model.OpsetImports["ai.onnx.ml"] = 4;
        ShapeInference.Run(model.Graph);
        return model;
    }

    private static TensorData Strings(long[] shape, params string[] items) => TensorData.Create(ElementType.String, shape, items);

    private static void AssertSameAsReference(string text, string device, string target, params DataValue[] inputs)
    {
        var expected = new ReferenceEvaluator().Run(Parse(text).Graph, inputs);
        var actual = new CompiledEngine(device, target).Run(Parse(text), inputs);
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            var e = (TensorData)expected[i];
            var a = (TensorData)actual[i];
            Assert.Equal(e.ElementType, a.ElementType);
            Assert.Equal(e.Shape, a.Shape);
            if (e.ElementType == ElementType.String) Assert.Equal(e.Data<string>(), a.Data<string>());
            else Assert.True(e.BitwiseEquals(a), $"output {i} differs");
        }
    }

    // Concatenation with a broadcast constant, then Equal on strings feeding a numeric kernel.
    private const string ConcatEqual = """
        graph @main(%a: str[2,1], %b: str[3], %d: str[3]) {
          %bang = Constant() {value = dense<str[1]>["!"]} : str[1]
          %ab = StringConcat(%a, %b) : str[2,3]
          %c = StringConcat(%ab, %bang) : str[2,3]
          %e = Equal(%c, %d) : bool[2,3]
          %n = Not(%e) : bool[2,3]
          return %c, %n
        }
        """;

    [Theory]
    [MemberData(nameof(Configs))]
    public void ConcatAndEqualBroadcast(string device, string target) =>
        AssertSameAsReference(ConcatEqual, device, target,
            Strings([2, 1], "x", "ö"), Strings([3], "y", "", "日本"), Strings([3], "xy!", "ö!", "zz"));

    private const string Regex = """
        graph @main(%x: str[5]) {
          %m = RegexFullMatch(%x) {pattern = "[[:alpha:]]+\\d{2}(?P<tail>-x)?"} : bool[5]
          return %m
        }
        """;

    [Theory]
    [MemberData(nameof(Configs))]
    public void RegexFullMatchUsesRe2Classes(string device, string target) =>
        // \d is ASCII in RE2: the Arabic-Indic digits do not match; the match is of the whole string.
        AssertSameAsReference(Regex, device, target, Strings([5], "ab12", "ab123", "Zz00-x", "ab\u0661\u0662", "12"));

    // Split on a delimiter (its counts feed a numeric Add) and on whitespace with a limit.
    private const string Split = """
        graph @main(%x: str[3]) {
          %p, %n = StringSplit(%x) {delimiter = "-", maxsplit = 1} : str[3,?], i64[3]
          %q, %k = StringSplit(%x) {maxsplit = 2} : str[3,?], i64[3]
          %s = Add(%n, %k) : i64[3]
          return %p, %q, %s
        }
        """;

    [Theory]
    [MemberData(nameof(Configs))]
    public void SplitOnDelimiterAndWhitespace(string device, string target) =>
        AssertSameAsReference(Split, device, target, Strings([3], "a-b-c", "  one two\tthree four ", ""));

    private const string Normalize = """
        graph @main(%x: str[4], %r: str[1,3]) {
          %y = StringNormalizer(%x) {case_change_action = "LOWER", stopwords = strings["the", "A"]} : str[?]
          %z = StringNormalizer(%r) {case_change_action = "UPPER", is_case_sensitive = 1, stopwords = strings["the"]} : str[1,?]
          return %y, %z
        }
        """;

    [Theory]
    [MemberData(nameof(Configs))]
    public void NormalizeWithStopwordsAndCase(string device, string target)
    {
        AssertSameAsReference(Normalize, device, target, Strings([4], "The", "cat", "a", "SAT"), Strings([1, 3], "the", "The", "straße"));
        // Every string removed: one empty string.
        AssertSameAsReference(Normalize, device, target, Strings([4], "the", "A", "a", "THE"), Strings([1, 3], "the", "the", "the"));
    }

    // Strings to integers (with a default) and back to strings: both directions of LabelEncoder.
    private const string Labels = """
        graph @main(%x: str[5]) {
          %y = ai.onnx.ml.LabelEncoder(%x) {keys_strings = strings["a", "b", "a"], values_int64s = ints[1, 2, 3], default_int64 = -7} : i64[5]
          %z = ai.onnx.ml.LabelEncoder(%y) {keys_int64s = ints[1, -7], values_strings = strings["one", "none"]} : str[5]
          %w = ai.onnx.ml.LabelEncoder(%z) {keys_strings = strings["one"], values_strings = strings["1"], default_string = "?"} : str[5]
          return %y, %z, %w
        }
        """;

    [Theory]
    [MemberData(nameof(Configs))]
    public void LabelEncoderBothWays(string device, string target) =>
        AssertSameAsReference(Labels, device, target, Strings([5], "a", "c", "b", "a", ""));

    // Inputs whose sizes the model leaves open: each is its own, not one shared unknown.
    private const string OpenSizes = """
        graph @main(%a: str[?], %b: str[?,1]) {
          %c = StringConcat(%a, %b) : str[?,?]
          return %c
        }
        """;

    [Theory]
    [MemberData(nameof(Configs))]
    public void OpenInputSizesAreIndependent(string device, string target) =>
        AssertSameAsReference(OpenSizes, device, target, Strings([3], "a", "b", "c"), Strings([2, 1], "1", "2"));

    private const string Symbolic = """
        graph @main(%x: str[N], %v: f32[N]) {
          %e = Equal(%x, %x) : bool[N]
          %f = Cast(%e) {to = 1} : f32[N]
          %s = Add(%f, %v) : f32[N]
          return %s, %x
        }
        """;

    private static Function Load(string text, out IDisposable[] owned)
    {
        var module = Module.Load(KilnCompiler.Compile(Parse(text)).Bytes);
        var device = new LocalSyncDevice();
        var context = new Instance().CreateContext(module, device);
        owned = [context, device, module];
        return context.GetFunction("main");
    }

    private static void Release(IDisposable[] owned)
    {
        foreach (var d in owned) d.Dispose();
    }

    private static StatusCode Code(Action action) => Assert.Throws<KilnRuntimeException>(action).Code;

    [Fact]
    public void WrongKindsAndShapesOfInputsAreTypedErrors()
    {
        var main = Load(Symbolic, out var owned);
        try
        {
            Assert.Equal(ParameterKind.StringTensor, main.Inputs[0].Kind);
            Assert.Equal(DType.String, main.Inputs[0].DType);
            Assert.Equal(ParameterKind.StringTensor, main.Outputs[1].Kind);
            var x = new StringTensor(["a", "b", "c"], 3);
            var v = BufferView.Wrap(new float[] { 1, 2, 3 }, 3);
            var result = main.InvokeValues([x, v]);
            Assert.Equal(new float[] { 2, 3, 4 }, Assert.IsType<BufferView>(result[0]).ToArray<float>());
            Assert.Same(x, result[1]); // an input returned as is: string tensors are immutable

            Assert.Equal(StatusCode.InvalidArgument, Code(() => main.InvokeValues([v, v])));                     // a tensor where strings go
            Assert.Equal(StatusCode.InvalidArgument, Code(() => main.InvokeValues([x, x])));                     // strings where a tensor goes
            Assert.Equal(StatusCode.InvalidArgument, Code(() => main.InvokeValues([null, v])));                  // none: nothing is optional
            Assert.Equal(StatusCode.InvalidArgument, Code(() => main.InvokeValues([new StringTensor(["a"], 1, 1), v]))); // rank
            Assert.Equal(StatusCode.InvalidArgument, Code(() => main.InvokeValues([new StringTensor(["a", "b"], 2), v]))); // N differs
            Assert.Equal(StatusCode.InvalidArgument, Code(() => main.Invoke(v, v)));                               // the tensor-only entry point
        }
        finally { Release(owned); }
    }

    [Fact]
    public void StringTensorChecksItsContents()
    {
        Assert.Equal(StatusCode.InvalidArgument, Code(() => _ = new StringTensor(["a", "b"], 3)));
        Assert.Equal(StatusCode.InvalidArgument, Code(() => _ = new StringTensor(["a", null!], 2)));
        var items = new[] { "a", "b" };
        var s = new StringTensor(items, 2);
        items[0] = "changed";
        Assert.Equal("a", s[0]); // the tensor copied its elements
        Assert.Equal("string[2]", s.ToString());
    }

    /// <summary>A module whose "main" calls one "str" import on constant lists and returns its object result.</summary>
    private static byte[] StrCallModule(string import, int valueArgs, int refArgs, IReadOnlyList<string[]> lists, Func<BytecodeBuilder, (List<ushort> Values, List<ushort> Refs)> args)
    {
        var mb = new ModuleBuilder();
        int constant = mb.Import("str.constant", 1, 0, 0, 1, ImportFlags.VariadicValues);
        int call = import == "str.constant" ? constant : mb.Import(import, valueArgs, refArgs, 0, 1);
        foreach (var list in lists) mb.AddStringList(list);
        var c = mb.NewCode();
        var (values, refs) = args(c);
        var result = c.NewRef();
        c.CallImport(call, values, refs, [], [result]);
        c.Return([], [result]);
        mb.Export("main", mb.AddFunction("main", c, 0, 0, 0, 1));
        _ = constant;
        return mb.ToArray();
    }

    private static StatusCode RunMain(byte[] bytes)
    {
        using var module = Module.Load(bytes);
        using var device = new LocalSyncDevice();
        using var context = new Instance().CreateContext(module, device);
        return Code(() => context.GetFunction("main").InvokeValues([]));
    }

    [Fact]
    public void HostileStringCallsAreTypedErrors()
    {
        // A list index outside the table.
        Assert.Equal(StatusCode.OutOfRange, RunMain(StrCallModule("str.constant", 1, 0, [["a"]], c => ([c.Const(5), c.Const(1)], []))));
        // A shape that does not hold the list.
        Assert.Equal(StatusCode.InvalidArgument, RunMain(StrCallModule("str.constant", 1, 0, [["a"]], c => ([c.Const(0), c.Const(2)], []))));
        // A pattern RE2 and the linear-time engine refuse (lookahead), and a pattern list of two strings.
        byte[] Regex(string[] pattern) => StrCallModule("str.regex_full_match", 1, 1, [["x"], pattern], c =>
        {
            var s = c.NewRef();
            c.CallImport(0, [c.Const(0), c.Const(1)], [], [], [s]);
            return ([c.Const(1)], [s]);
        });
        Assert.Equal(StatusCode.InvalidArgument, RunMain(Regex(["(?=x)x"])));
        Assert.Equal(StatusCode.InvalidArgument, RunMain(Regex(["x", "y"])));
        // A numeric view where a string tensor goes: no object at all (a cleared register).
        Assert.Equal(StatusCode.InvalidArgument, RunMain(StrCallModule("str.concat", 0, 2, [], c =>
        {
            var none = c.NewRef();
            c.ClearRef(none);
            return ([], [none, none]);
        })));
    }

    [Fact]
    public void StringListTablesAreVerifiedAtLoad()
    {
        var bytes = StrCallModule("str.constant", 1, 0, [["a", "b"]], c => ([c.Const(0), c.Const(2)], []));
        using (var module = Module.Load(bytes)) Assert.Equal(["a", "b"], module.StringList(0));

        // The list's item range pushed past the item table (checksum recomputed so the table verifier runs).
        var header = System.Runtime.InteropServices.MemoryMarshal.Read<ModuleHeader>(bytes);
        for (int i = 0; i < header.SectionCount; i++)
        {
            var e = System.Runtime.InteropServices.MemoryMarshal.Read<SectionEntry>(bytes.AsSpan((int)header.SectionTableOffset + i * 24));
            if (e.Kind != SectionKind.StringLists) continue;
            var bad = (byte[])bytes.Clone();
            BinaryPrimitives.WriteUInt32LittleEndian(bad.AsSpan((int)e.Offset + 4), 3); // Count
            BinaryPrimitives.WriteUInt32LittleEndian(bad.AsSpan(40), Crc32.Compute(bad.AsSpan((int)header.SectionTableOffset, (int)(header.MetadataEnd - header.SectionTableOffset))));
            Assert.Equal(StatusCode.InvalidModule, Assert.Throws<KilnRuntimeException>(() => Module.Load(bad)).Code);
            return;
        }
        Assert.Fail("no string-list section");
    }

    [Fact]
    public void StringParametersMustHaveTheStringDType()
    {
        var mb = new ModuleBuilder();
        var c = mb.NewCode();
        c.ReserveArguments(0, 1);
        c.Return([], [0]);
        int f = mb.AddFunction("main", c, 0, 1, 0, 1);
        var p = new SignatureParameter("x", DType.Float32, [(2L, null)], ParameterKind.StringTensor);
        mb.Export("main", f, mb.AddSignature([p], [p with { DType = DType.String }]));
        Assert.Equal(StatusCode.InvalidModule, Assert.Throws<KilnRuntimeException>(() => Module.Load(mb.ToArray())).Code);
    }
}
