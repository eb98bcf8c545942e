using BenchmarkDotNet.Attributes;
using Kiln.Compiler;
using Kiln.Ir;
using Kiln.Ops;
using Kiln.Runtime;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Vm;

namespace Kiln.Benchmarks;

/// <summary>
/// Convolution layers shaped like the ones in the real models (PP-OCR det, BlazeFace), each
/// compiled alone (constant weights and bias) and run on the local-sync device (one thread).
/// </summary>
[Config(typeof(FlopsConfig))]
public class ConvBenchmarks : IHasFlops, IDisposable
{
    /// <summary>A layer: op, input shape, weight shape, group, stride, pad.</summary>
    public sealed record Layer(string Name, string Op, long[] Input, long[] Weights, long Group, long Stride, long Pad)
    {
        public override string ToString() => Name;

        public double Flops
        {
            get
            {
                long outH = Op == "ConvTranspose" ? Input[2] * Stride : (Input[2] + 2 * Pad - Weights[2]) / Stride + 1;
                long outW = Op == "ConvTranspose" ? Input[3] * Stride : (Input[3] + 2 * Pad - Weights[3]) / Stride + 1;
                long macs = Op == "ConvTranspose"
                    ? Input[1] * Weights[1] * Weights[2] * Weights[3] * Input[2] * Input[3]
                    : Weights[0] * Weights[1] * Weights[2] * Weights[3] * outH * outW;
                return 2.0 * macs * Input[0];
            }
        }
    }

    public static IEnumerable<Layer> Layers() =>
    [
        new("first 3->16 3x3 s2 640", "Conv", [1, 3, 640, 640], [16, 3, 3, 3], 1, 2, 1),
        new("3x3 64->64 80x80", "Conv", [1, 64, 80, 80], [64, 64, 3, 3], 1, 1, 1),
        new("3x3 256->256 20x20", "Conv", [1, 256, 20, 20], [256, 256, 3, 3], 1, 1, 1),
        new("1x1 96->96 80x80", "Conv", [1, 96, 80, 80], [96, 96, 1, 1], 1, 1, 0),
        new("1x1 24->48 64x64", "Conv", [1, 24, 64, 64], [48, 24, 1, 1], 1, 1, 0),
        new("dw3x3 s1 96ch 80x80", "Conv", [1, 96, 80, 80], [96, 1, 3, 3], 96, 1, 1),
        new("dw3x3 s2 48ch 160x160", "Conv", [1, 48, 160, 160], [48, 1, 3, 3], 48, 2, 1),
        new("dw5x5 s1 24ch 64x64", "Conv", [1, 24, 64, 64], [24, 1, 5, 5], 24, 1, 2),
        new("convT 2x2 s2 96->24 80x80", "ConvTranspose", [1, 96, 80, 80], [96, 24, 2, 2], 1, 2, 0),
    ];

    [ParamsSource(nameof(Layers))]
    public Layer Case { get; set; } = Layers().First();

    public double Flops => Case.Flops;

    private CompiledLayer? _layer;

    [GlobalSetup]
    public void Setup() => _layer = new CompiledLayer(Case);

    [Benchmark]
    public void Run() => _layer!.Run();

    [GlobalCleanup]
    public void Dispose()
    {
        _layer?.Dispose();
        _layer = null;
        GC.SuppressFinalize(this);
    }
}

/// <summary>One layer compiled into a module and ready to run on a device.</summary>
public sealed class CompiledLayer : IDisposable
{
    private readonly Module _module;
    private readonly Device _device;
    private readonly Context _context;
    private readonly Function _main;
    private readonly BufferView _input;
    private readonly DispatchProfile _profile = new();

    /// <summary>Time spent in the layer's dispatches per run since the last call (excludes input and output handling).</summary>
    public double TakeDispatchSeconds(int runs)
    {
        double seconds = _profile.Entries.Sum(e => e.Total.TotalSeconds) / runs;
        _profile.Clear();
        return seconds;
    }

    public CompiledLayer(ConvBenchmarks.Layer layer, Device? device = null)
    {
        var g = new Graph("layer");
        var x = g.AddInput("x", new TensorType(ElementType.Float32, Shape.Of(layer.Input.Select(d => (Dim)d).ToArray())));
        var w = Constant(g, "w", Random(1, layer.Weights));
        long filters = layer.Op == "ConvTranspose" ? layer.Weights[1] * layer.Group : layer.Weights[0];
        var b = Constant(g, "b", Random(2, [filters]));
        var attributes = new Dictionary<string, AttributeValue>
        {
            ["group"] = AttributeValue.Int(layer.Group),
            ["strides"] = AttributeValue.Ints(layer.Stride, layer.Stride),
            ["pads"] = AttributeValue.Ints(layer.Pad, layer.Pad, layer.Pad, layer.Pad),
        };
        g.AddOutput(g.Add(layer.Op, [x, w, b], attributes, "y"));
        ShapeInference.Run(g);
        _module = Module.Load(KilnCompiler.Compile(new Model(g)).Bytes);
        _device = device ?? new LocalSyncDevice();
        _context = new Instance().CreateContext(_module, _device, new ContextOptions { Profile = _profile });
        _main = _context.GetFunction("main");
        _input = BufferView.FromBytes(DType.Float32, Random(3, layer.Input).AsBytes(), layer.Input);
    }

    public void Run()
    {
        foreach (var output in _main.Invoke(_input)) output.Dispose();
    }

    private static Value Constant(Graph g, string name, TensorData value) =>
        g.Add("Constant", [], new Dictionary<string, AttributeValue> { ["value"] = AttributeValue.Tensor(value) }, name, value.Type);

    private static TensorData Random(int seed, long[] shape)
    {
        var r = new Random(seed);
        var data = new float[TensorData.CheckedCount(shape)];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(r.NextDouble() - 0.5);
        return TensorData.FromFloats(shape, data);
    }

    public void Dispose()
    {
        _input.Dispose();
        _context.Dispose();
        _device.Dispose();
        _module.Dispose();
    }
}
