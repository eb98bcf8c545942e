using Kiln.Compiler.ModuleWriter;
using Kiln.Runtime;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Vm;
using Module = Kiln.Runtime.Module;

namespace Kiln.Tests.Runtime;

/// <summary>
/// Rule 2 of the design: loading never copies constant data. A module with 128 MiB of constants,
/// loaded from a read-only memory mapping, must allocate (managed) a small fixed amount no matter
/// the size of the weights, and its constants must be read in place. (Load time is a benchmark:
/// bench/Kiln.Benchmarks, ModuleLoadBenchmark.)
/// </summary>
public class ZeroCopyLoadTests
{
    /// <summary>A module whose "main" returns constant segment 0 viewed as int64[count].</summary>
    public static byte[] BigConstantModule(int segments, int segmentBytes)
    {
        var mb = new ModuleBuilder();
        var rng = new Random(1);
        for (int s = 0; s < segments; s++)
        {
            var data = new byte[segmentBytes];
            rng.NextBytes(data);
            BitConverter.TryWriteBytes(data, (long)s * 1000 + 7);
            mb.AddSegment(data);
        }
        int constant = mb.Import("hal.buffer.constant", 1, 0, 0, 1);
        int create = mb.Import("hal.view.create", 2, 1, 0, 1, Kiln.Runtime.Format.ImportFlags.VariadicValues);
        var c = mb.NewCode();
        var buf = c.NewRef();
        var view = c.NewRef();
        c.CallImport(constant, [c.Const(segments - 1)], [], [], [buf]);
        c.CallImport(create, [c.Const(0), c.Const((long)DType.Int64), c.Const(4)], [buf], [], [view]);
        c.Return([], [view]);
        mb.Export("main", mb.AddFunction("main", c, 0, 0, 0, 1));
        return mb.ToArray();
    }

    [Fact]
    public void LoadingHundredsOfMegabytesAllocatesAlmostNothing()
    {
        string path = Path.Combine(Path.GetTempPath(), $"kiln-big-{Guid.NewGuid():N}.kiln");
        File.WriteAllBytes(path, BigConstantModule(segments: 128, segmentBytes: 1 << 20));
        try
        {
            using (Module.Load(path)) { } // warm up the code paths
            long before = GC.GetAllocatedBytesForCurrentThread();
            using var module = Module.Load(path);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(module.ConstantBytes >= 128L << 20);
            Assert.True(allocated < 64 * 1024, $"loading allocated {allocated} bytes");

            using var device = new LocalSyncDevice();
            using var context = new Instance().CreateContext(module, device);
            var first = context.GetFunction("main").Invoke()[0].ToArray<long>();
            Assert.Equal(127 * 1000 + 7, first[0]); // read in place from the mapping
        }
        finally { File.Delete(path); }
    }
}
