using Kiln.Compiler;
using Kiln.Compiler.Targets;
using Kiln.Conformance;
using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Kernels;
using Kiln.Runtime.Kernels.Il;
using Kiln.Runtime.Vm;
using Module = Kiln.Runtime.Module;

namespace Kiln.Tests.Kernels;

/// <summary>
/// Runs small models through the compiled path under one kernel configuration and checks them:
/// against the reference evaluator (the oracle), and for IL configurations also against the
/// portable interpreter, element by element within a few ulps (exactly for integers and bools).
/// Configurations: "portable"; "il" (native vector width); "il-scalar", "il-v128", "il-v256",
/// "il-v512" (the IL loader forced to a width; widths the processor lacks run the vector API's
/// software fallback, slowly but with the same results).
/// </summary>
public static class KernelHarness
{
    public static readonly string[] Configurations = ["portable", "il", "il-scalar", "il-v128", "il-v256", "il-v512"];

    public static TheoryData<string> AllConfigurations()
    {
        var data = new TheoryData<string>();
        foreach (var c in Configurations) data.Add(c);
        return data;
    }

    /// <summary>
    /// The most ulps IL and portable results may differ by: exp and log have vector and scalar
    /// implementations a few ulps apart (TensorPrimitives' and the vector API's vs MathF's)...
    /// </summary>
    public const int UlpTolerance = 4;

    /// <summary>...and where a chain cancels (exp(x) − 1 near 0), those ulps grow relative to the result.</summary>
    public const double CancellationTolerance = 1e-6;

    /// <summary>A model of one operation on inputs of the given types (dims may be symbolic), with every result an output.</summary>
    public static Model Single(string op, (ElementType Type, Dim[] Shape)[] inputs, IDictionary<string, AttributeValue>? attributes = null, int results = 1)
    {
        var g = new Graph("main");
        var values = inputs.Select((t, i) => (Value?)g.AddInput($"x{i}", new TensorType(t.Type, Shape.Of(t.Shape)))).ToArray();
        var op1 = g.AddOperation(op, values, Enumerable.Range(0, results).Select(i => (string?)$"y{i}"), attributes);
        foreach (var r in op1.Outputs) g.AddOutput(r!);
        return Typed(g);
    }

    public static Model Typed(Graph g)
    {
        var model = new Model(g);
        model.OpsetImports[""] = 21;
        ShapeInference.Run(g);
        return model;
    }

    /// <summary>A compiled model, loaded under one configuration, invocable many times.</summary>
    public sealed class Loaded : IDisposable
    {
        private readonly Module _module;
        private readonly Device _device;
        private readonly Context _context;

        public Loaded(Model model, string configuration, string device = "sync")
        {
            Loader = LoaderFor(configuration);
            var compiled = KilnCompiler.Compile(model, new CompileOptions { Target = configuration == "portable" ? CompileTarget.Portable : CompileTarget.Il });
            _module = Module.Load(compiled.Bytes);
            var instance = new Instance();
            if (Loader is not null) instance.RegisterLoader(Loader);
            _device = CompiledEngine.CreateDevice(device);
            _context = instance.CreateContext(_module, _device);
        }

        /// <summary>The recording loader registered for an IL configuration (null for portable).</summary>
        public RecordingLoader? Loader { get; }

        public TensorData[] Run(IReadOnlyList<TensorData> inputs)
        {
            var views = inputs.Select((t, i) => CompiledEngine.ToView(t, i)).ToArray();
            try { return _context.GetFunction("main").Invoke(views).Select(CompiledEngine.FromView).ToArray(); }
            finally { foreach (var v in views) v.Dispose(); }
        }

        public void Dispose()
        {
            _context.Dispose();
            _device.Dispose();
            _module.Dispose();
        }
    }

    public static RecordingLoader? LoaderFor(string configuration) => configuration switch
    {
        "portable" => null,
        "il" => new RecordingLoader(new IlExecutableLoader()),
        "il-scalar" => new RecordingLoader(new IlExecutableLoader(0)),
        "il-v128" => new RecordingLoader(new IlExecutableLoader(16)),
        "il-v256" => new RecordingLoader(new IlExecutableLoader(32)),
        "il-v512" => new RecordingLoader(new IlExecutableLoader(64)),
        _ => throw new ArgumentException(configuration),
    };

    /// <summary>Wraps a loader and records the kernels it loads.</summary>
    public sealed class RecordingLoader(ExecutableLoader inner) : ExecutableLoader
    {
        public List<Kernel> Kernels { get; } = [];
        public ExecutableLoader Inner => inner;
        public override bool CanLoad(string format) => inner.CanLoad(format);

        public override Kernel LoadKernel(string name, ReadOnlySpan<byte> descriptor, int bindingCount, int constantCount, ulong contentHash)
        {
            var k = inner.LoadKernel(name, descriptor, bindingCount, constantCount, contentHash);
            lock (Kernels) Kernels.Add(k);
            return k;
        }
    }

    /// <summary>
    /// Builds the model three times (compiling consumes it): runs each input set under the
    /// configuration, the portable target and the reference evaluator, and compares.
    /// <paramref name="exactReference"/> false skips the reference comparison for inputs outside
    /// the ops' ordinary domain (NaN, infinities), where only IL-vs-portable agreement is checked.
    /// </summary>
    public static void Check(Func<Model> build, string configuration, IEnumerable<TensorData[]> inputSets, string what,
        double rtol = 1e-5, double atol = 1e-6, bool exactReference = true, string device = "sync")
    {
        var sets = inputSets.ToList();
        using var loaded = new Loaded(build(), configuration, device);
        using var portable = configuration == "portable" ? null : new Loaded(build(), "portable", device);
        var referenceModel = build();
        foreach (var inputs in sets)
        {
            string where = $"{what} [{configuration}] on {string.Join(", ", inputs.Select(t => $"{t.ElementType.ShortName()}{TensorData.FormatShape(t.Shape)}"))}";
            var actual = loaded.Run(inputs);
            if (exactReference)
            {
                var expected = new ReferenceEvaluator().Run(referenceModel.Graph, inputs);
                Assert.Equal(expected.Count, actual.Length);
                for (int i = 0; i < actual.Length; i++)
                {
                    var e = (TensorData)expected[i];
                    double scale = e.ElementType is ElementType.Float16 or ElementType.BFloat16 ? 1e3 : 1;
                    var diff = Comparison.CompareTensors($"y{i}", e, actual[i], rtol * scale, atol * scale);
                    Assert.True(diff is null, $"{where}: vs reference: {diff}");
                }
            }
            if (portable is not null)
            {
                var baseline = portable.Run(inputs);
                for (int i = 0; i < actual.Length; i++)
                    Assert.True(WithinUlps(baseline[i], actual[i], out string detail), $"{where}: vs portable, output {i}: {detail}");
            }
        }
        if (loaded.Loader is { } recorder)
            Assert.All(recorder.Kernels, k => Assert.IsType<IlElementwiseKernel>(k));
    }

    /// <summary>
    /// Same type and shape; floats within <see cref="UlpTolerance"/> ulps or <see cref="CancellationTolerance"/>
    /// relative (1e-14 for float64; NaN matches NaN); everything else bit for bit.
    /// </summary>
    public static bool WithinUlps(TensorData expected, TensorData actual, out string detail)
    {
        detail = "";
        if (expected.ElementType != actual.ElementType || !expected.Shape.AsSpan().SequenceEqual(actual.Shape))
        {
            detail = $"{actual.ElementType.ShortName()}{TensorData.FormatShape(actual.Shape)}, expected {expected.ElementType.ShortName()}{TensorData.FormatShape(expected.Shape)}";
            return false;
        }
        for (long i = 0; i < expected.ElementCount; i++)
        {
            (long a, long b, bool nanA, bool nanB) = expected.Storage switch
            {
                float[] e => (Ordered(BitConverter.SingleToInt32Bits(e[i])), Ordered(BitConverter.SingleToInt32Bits(((float[])actual.Storage)[i])), float.IsNaN(e[i]), float.IsNaN(((float[])actual.Storage)[i])),
                double[] e => (Ordered(BitConverter.DoubleToInt64Bits(e[i])), Ordered(BitConverter.DoubleToInt64Bits(((double[])actual.Storage)[i])), double.IsNaN(e[i]), double.IsNaN(((double[])actual.Storage)[i])),
                Half[] e => (Ordered16(BitConverter.HalfToInt16Bits(e[i])), Ordered16(BitConverter.HalfToInt16Bits(((Half[])actual.Storage)[i])), Half.IsNaN(e[i]), Half.IsNaN(((Half[])actual.Storage)[i])),
                BFloat16[] e => (Ordered16((short)e[i].Bits), Ordered16((short)((BFloat16[])actual.Storage)[i].Bits), float.IsNaN((float)e[i]), float.IsNaN((float)((BFloat16[])actual.Storage)[i])),
                _ => (0L, 0L, false, false),
            };
            if (expected.Storage is float[] or double[] or Half[] or BFloat16[])
            {
                if (nanA && nanB) continue;
                if (nanA == nanB && Math.Abs(a - b) <= UlpTolerance) continue;
                double x = AsDouble(expected.Storage.GetValue(i)!), y = AsDouble(actual.Storage.GetValue(i)!);
                double relative = expected.Storage is double[] ? 1e-14 : CancellationTolerance;
                if (!nanA && !nanB && Math.Abs(x - y) <= relative * Math.Max(1, Math.Abs(x))) continue;
                detail = $"element {i}: {Format(actual, i)}, expected {Format(expected, i)}";
                return false;
            }
        }
        if (expected.Storage is float[] or double[] or Half[] or BFloat16[]) return true;
        if (expected.AsBytes().SequenceEqual(actual.AsBytes())) return true;
        detail = "integer results differ: " + FirstDifference(expected, actual);
        return false;
    }

    private static double AsDouble(object v) => v switch
    {
        float f => f, double d => d, Half h => (double)h, BFloat16 b => (float)b,
        _ => throw new ArgumentException(v.GetType().Name),
    };

    private static string FirstDifference(TensorData e, TensorData a)
    {
        for (long i = 0; i < e.ElementCount; i++)
            if (!Equals(e.Storage.GetValue(i), a.Storage.GetValue(i))) return $"element {i}: {a.Storage.GetValue(i)}, expected {e.Storage.GetValue(i)}";
        return "?";
    }

    private static string Format(TensorData t, long i) => t.Storage.GetValue(i) is { } v ? Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture) + (t.Storage is float[] f ? $" (0x{BitConverter.SingleToInt32Bits(f[i]):X8})" : "") : "null";

    private static long Ordered(int bits) => bits < 0 ? int.MinValue - (long)bits : bits;
    private static long Ordered(long bits) => bits < 0 ? (long)((Int128)long.MinValue - bits) : bits;
    private static long Ordered16(short bits) => bits < 0 ? short.MinValue - (long)bits : bits;

    // ---- inputs

    /// <summary>A tensor whose element i is value(i), converted to the element type (integers wrap; bool = nonzero).</summary>
    public static TensorData Make(ElementType type, long[] shape, Func<long, double> value)
    {
        var t = TensorData.Zeros(type, shape);
        long n = t.ElementCount;
        for (long i = 0; i < n; i++)
        {
            double v = value(i);
            switch (t.Storage)
            {
                case float[] a: a[i] = (float)v; break;
                case double[] a: a[i] = v; break;
                case Half[] a: a[i] = (Half)v; break;
                case BFloat16[] a: a[i] = BFloat16.FromBits((ushort)(BitConverter.SingleToUInt32Bits((float)v) >> 16)); break;
                case sbyte[] a: a[i] = unchecked((sbyte)(long)v); break;
                case byte[] a: a[i] = unchecked((byte)(long)v); break;
                case short[] a: a[i] = unchecked((short)(long)v); break;
                case ushort[] a: a[i] = unchecked((ushort)(long)v); break;
                case int[] a: a[i] = unchecked((int)(long)v); break;
                case uint[] a: a[i] = unchecked((uint)(long)v); break;
                case long[] a: a[i] = (long)v; break;
                case ulong[] a: a[i] = unchecked((ulong)(long)v); break;
                case bool[] a: a[i] = v != 0; break;
                default: throw new ArgumentException(type.ToString());
            }
        }
        return t;
    }

    /// <summary>Pseudo-random values in [lo, hi] by element index (a splitmix64 hash of seed and index); integral when asked.</summary>
    public static Func<long, double> Random(long seed, double lo, double hi, bool integral = false) => i =>
    {
        ulong z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)i * 0xBF58476D1CE4E5B9UL + 0x94D049BB133111EBUL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        double v = lo + (z >> 11) * (1.0 / (1UL << 53)) * (hi - lo);
        return integral ? Math.Round(v) : v;
    };

    /// <summary>Concrete dims for a shape with the symbol N set to n.</summary>
    public static long[] Concrete(Dim[] shape, long n) => shape.Select(d => d.IsKnown ? d.Value : n).ToArray();

    public static readonly Dim N = Dim.Symbol("N");

    /// <summary>Every length up to two vectors of float32 lanes past the widest (every vector tail), empty included, and some long ones.</summary>
    public static readonly long[] Lengths = [.. Enumerable.Range(0, 36).Select(i => (long)i), 63, 64, 65, 100, 257, 1000];

    public static bool IsSigned(ElementType t) => t is ElementType.Int8 or ElementType.Int16 or ElementType.Int32 or ElementType.Int64;
    public static bool IsUnsigned(ElementType t) => t is ElementType.UInt8 or ElementType.UInt16 or ElementType.UInt32 or ElementType.UInt64;
}
