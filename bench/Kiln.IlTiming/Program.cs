using System.Diagnostics;
using Kiln.Compiler;
using Kiln.Compiler.Targets;
using Kiln.Conformance;
using Kiln.Ir;
using Kiln.Onnx;
using Kiln.Ops;
using Kiln.Runtime;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Kernels.Elementwise;
using Kiln.Runtime.Kernels.Il;
using Kiln.Runtime.Vm;
using Module = Kiln.Runtime.Module;

// Timings of the IL target against the portable interpreter (run in Release):
//   dotnet run -c Release --project bench/Kiln.IlTiming -- throughput      elementwise chains over 4M floats, both devices
//   dotnet run -c Release --project bench/Kiln.IlTiming -- codegen DIR      render and JIT time of every elementwise program
//                                                                          the compiler makes for the ONNX cases in DIR
// Throughput: the chain's kernel alone (one thread, dispatched directly on pre-touched buffers,
// workgroup after workgroup), and the whole module invoked on each device (which also allocates
// and first-touches the output buffer on every call). Median of 30 runs after 5 warm-ups.

var mode = args.Length > 0 ? args[0] : "throughput";
if (mode == "codegen") Codegen(args.Length > 1 ? args[1] : "../shared/onnx-backend/node");
else Throughput();

static void Throughput()
{
    const long n = 4L << 20;
    Console.WriteLine($"vector width {ElementwiseRenderer.NativeVectorBytes * 8} bits; {n} float32 elements; median ms per call (GB/s of operands read and written)");
    Console.WriteLine($"{"chain",-34} {"how",-13} {"portable",18} {"il",18} {"speed-up",9}");
    var x = Fill([n], 1);
    var b = Fill([n], 2);
    Row("HardSwish(x)", () => Unary("HardSwish", n), [x], 8);
    Row("HardSwish(x * 1.5 + b)", () => HardSwishAffine(n), [x, b], 12);
    Row("x * Sigmoid(x)  (SiLU)", () => Silu(n), [x], 8);
    Row("Add(x[4096,1024], bias[1024])", () => BiasAdd(n), [Fill([n / 1024, 1024], 1), Fill([1024], 3)], 8);
    Row("Transpose [2048,2048] -> [1,0]", () => Transpose(2048), [Fill([2048, 2048], 4)], 8);
    Row("Gelu(x[64K])  (erf, lane by lane)", () => Unary("Gelu", 1L << 16), [Fill([1L << 16], 5)], 8);
}

static void Row(string name, Func<Model> build, TensorData[] inputs, int bytesPerElement)
{
    double gb(double ms) => inputs[0].ElementCount * bytesPerElement / (ms * 1e6);
    void Line(string how, double portable, double il) =>
        Console.WriteLine($"{name,-34} {how,-13} {portable,8:F2} ({gb(portable),5:F1} GB/s) {il,8:F2} ({gb(il),5:F1} GB/s) {portable / il,8:F2}x");
    Line("kernel", KernelTime(build(), CompileTarget.Portable, inputs), KernelTime(build(), CompileTarget.Il, inputs));
    foreach (var device in new[] { "sync", "task" })
        Line($"module {device}", Time(build(), CompileTarget.Portable, device, inputs), Time(build(), CompileTarget.Il, device, inputs));
}

/// <summary>The model's single kernel run directly: loaded as the target loads it, dispatched on native buffers on this thread.</summary>
static unsafe double KernelTime(Model model, string target, TensorData[] inputs)
{
    var plan = KilnCompiler.Compile(model, new CompileOptions { Target = target }).Plan;
    var step = plan.Steps.OfType<Kiln.Compiler.Lowering.DispatchStep>().Single();
    var spec = step.Kernel;
    Kiln.Runtime.Hal.Kernel kernel = target == CompileTarget.Il
        ? new IlExecutableLoader().LoadKernel(spec.Family, spec.Descriptor, spec.BindingCount, spec.ConstantCount, 1)
        : ElementwiseKernel.Load(spec.Descriptor, spec.BindingCount, spec.ConstantCount);
    var tensors = step.Inputs.Concat(step.Outputs).ToArray();
    var bindings = new Binding[tensors.Length];
    var memory = new List<nint>();
    for (int k = 0; k < tensors.Length; k++)
    {
        tensors[k].ByteLength.TryGetValue(out long bytes);
        var p = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)bytes, 64);
        memory.Add((nint)p);
        var block = tensors[k].Block;
        var source = block.Kind switch
        {
            Kiln.Compiler.Lowering.StorageKind.Input => inputs[block.Index].AsBytes(),
            Kiln.Compiler.Lowering.StorageKind.Constant => plan.ConstantSegments[block.Index].AsBytes(),
            _ => default,
        };
        if (k < step.Inputs.Count) source.CopyTo(new Span<byte>(p, (int)bytes));
        else new Span<byte>(p, (int)bytes).Clear();
        bindings[k] = new Binding(p, bytes);
    }
    var constants = step.Constants.Select(c => c.TryGetValue(out long v) ? v : throw new InvalidOperationException("symbolic constant")).ToArray();
    var env = new KernelEnvironment(CpuFeatureDetection.Current, 1);
    var times = new List<double>();
    fixed (Binding* b = bindings)
    fixed (long* c = constants)
    {
        var probe = new DispatchState(b, bindings.Length, c, constants.Length, 1, 1, 1);
        kernel.Validate(probe);
        var (x, _, _) = kernel.WorkgroupCount(probe, env);
        var d = new DispatchState(b, bindings.Length, c, constants.Length, x, 1, 1);
        byte* scratch = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)Math.Max(64, kernel.ScratchBytes(d)), 64);
        for (int i = 0; i < 35; i++)
        {
            var sw = Stopwatch.StartNew();
            for (int w = 0; w < x; w++) kernel.Run(env, d, new WorkgroupState(w, 0, 0, 0, scratch, kernel.ScratchBytes(d)));
            if (i >= 5) times.Add(sw.Elapsed.TotalMilliseconds);
        }
        System.Runtime.InteropServices.NativeMemory.AlignedFree(scratch);
    }
    foreach (var p in memory) System.Runtime.InteropServices.NativeMemory.AlignedFree((void*)p);
    times.Sort();
    return times[times.Count / 2];
}

static double Time(Model model, string target, string device, TensorData[] inputs)
{
    var compiled = KilnCompiler.Compile(model, new CompileOptions { Target = target });
    using var module = Module.Load(compiled.Bytes);
    using var dev = CompiledEngine.CreateDevice(device);
    using var context = new Instance().CreateContext(module, dev);
    var main = context.GetFunction("main");
    var views = inputs.Select((t, i) => CompiledEngine.ToView(t, i)).ToArray();
    var times = new List<double>();
    for (int i = 0; i < 35; i++)
    {
        var sw = Stopwatch.StartNew();
        foreach (var o in main.Invoke(views)) o.Dispose();
        if (i >= 5) times.Add(sw.Elapsed.TotalMilliseconds);
    }
    foreach (var v in views) v.Dispose();
    times.Sort();
    return times[times.Count / 2];
}

static void Codegen(string dir)
{
    // Every distinct elementwise program the compiler makes for the suite's models.
    var programs = new Dictionary<string, ElementwiseProgram>();
    foreach (var c in ConformanceCase.Discover(dir))
    {
        try
        {
            var plan = KilnCompiler.Compile(OnnxImporter.Load(c.ModelPath), new CompileOptions { Target = CompileTarget.Il }).Plan;
            foreach (var k in plan.Kernels)
                if (k.Family == ElementwiseKernel.KernelName) programs.TryAdd(Convert.ToHexString(k.Descriptor), ElementwiseProgram.Decode(k.Descriptor));
        }
        catch (Exception e) when (e is KilnException or KilnRuntimeException) { }
    }
    var renderer = new ElementwiseRenderer(ElementwiseRenderer.NativeVectorBytes);
    unsafe { renderer.Render(programs.Values.First())(null, null, 0); } // warm the renderer and the JIT's own code paths
    var render = new List<double>();
    var jit = new List<double>();
    var byLength = new List<(int Instructions, double Render, double Jit)>();
    foreach (var p in programs.Values)
    {
        var sw = Stopwatch.StartNew();
        var row = renderer.Render(p);
        double r = sw.Elapsed.TotalMilliseconds;
        sw.Restart();
        unsafe { row(null, null, 0); }
        double j = sw.Elapsed.TotalMilliseconds;
        render.Add(r);
        jit.Add(j);
        byLength.Add((p.Instructions.Length, r, j));
    }
    Console.WriteLine($"{programs.Count} distinct elementwise programs from {dir}, vector width {renderer.VectorBytes * 8} bits");
    Console.WriteLine($"  render (IL emission + CreateDelegate): {Summary(render)}");
    Console.WriteLine($"  first call (JIT compilation):         {Summary(jit)}");
    var longest = byLength.OrderByDescending(x => x.Instructions).First();
    Console.WriteLine($"  longest program ({longest.Instructions} instructions): render {longest.Render:F2} ms, JIT {longest.Jit:F2} ms");
    Console.WriteLine($"  total render {render.Sum():F0} ms, total JIT {jit.Sum():F0} ms");
}

static string Summary(List<double> ms)
{
    var s = ms.Order().ToList();
    return $"median {s[s.Count / 2]:F2} ms, p90 {s[s.Count * 9 / 10]:F2} ms, max {s[^1]:F2} ms";
}

static TensorData Fill(long[] shape, int seed)
{
    var t = TensorData.Zeros(ElementType.Float32, shape);
    var f = t.Data<float>();
    var rng = new Random(seed);
    for (int i = 0; i < f.Length; i++) f[i] = (float)(rng.NextDouble() * 12 - 6);
    return t;
}

static Model Typed(Graph g)
{
    var model = new Model(g);
    model.OpsetImports[""] = 21;
    ShapeInference.Run(g);
    return model;
}

static Model Unary(string op, long n)
{
    var g = new Graph("main");
    var x = g.AddInput("x", new TensorType(ElementType.Float32, Shape.Of(n)));
    g.AddOutput(g.Add(op, [x]));
    return Typed(g);
}

static Model HardSwishAffine(long n)
{
    var g = new Graph("main");
    var x = g.AddInput("x", new TensorType(ElementType.Float32, Shape.Of(n)));
    var b = g.AddInput("b", new TensorType(ElementType.Float32, Shape.Of(n)));
    var scale = g.Add("Constant", [], new Dictionary<string, AttributeValue> { ["value"] = AttributeValue.Tensor(TensorData.Scalar(ElementType.Float32, 1.5f)) });
    g.AddOutput(g.Add("HardSwish", [g.Add("Add", [g.Add("Mul", [x, scale]), b])]));
    return Typed(g);
}

static Model Silu(long n)
{
    var g = new Graph("main");
    var x = g.AddInput("x", new TensorType(ElementType.Float32, Shape.Of(n)));
    g.AddOutput(g.Add("Mul", [x, g.Add("Sigmoid", [x])]));
    return Typed(g);
}

static Model BiasAdd(long n)
{
    var g = new Graph("main");
    var x = g.AddInput("x", new TensorType(ElementType.Float32, Shape.Of(n / 1024, 1024)));
    var b = g.AddInput("b", new TensorType(ElementType.Float32, Shape.Of(1024)));
    g.AddOutput(g.Add("Add", [x, b]));
    return Typed(g);
}

static Model Transpose(long side)
{
    var g = new Graph("main");
    var x = g.AddInput("x", new TensorType(ElementType.Float32, Shape.Of(side, side)));
    g.AddOutput(g.Add("Transpose", [x], new Dictionary<string, AttributeValue> { ["perm"] = AttributeValue.Ints(1, 0) }));
    return Typed(g);
}
