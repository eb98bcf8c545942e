using System.Buffers.Binary;
using Kiln.Compiler;
using Kiln.Conformance;
using Kiln.Ir;
using Kiln.Onnx;
using Kiln.Runtime;
using Kiln.Runtime.Format;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Vm;
using Kiln.Tests.Conformance;
using Kiln.Tests.Runtime;
using Module = Kiln.Runtime.Module;

namespace Kiln.Tests.Fuzz;

/// <summary>
/// Mutates valid modules and checks that every failure is a KilnRuntimeException: at load (the
/// verifiers), at context creation (kernel descriptors), or while running (checked ranges, limits,
/// deadlines) — never another exception, a crash, an out-of-range access, or a hang.
/// Mutations: bit flips (with the checksum left stale, and recomputed so the table and bytecode
/// verifiers are reached), truncation, table fields set to boundary values, garbage bytecode and
/// kernel descriptors, corrupted constants. KILN_FUZZ_ITERATIONS sets the count (default 100,000).
/// </summary>
public class ModuleFuzzTests
{
    private sealed record Seed(string Name, byte[] Bytes, object?[] Inputs);

    private static readonly string[] SeedCases =
        ["node/test_add_bcast", "node/test_transpose_all_permutations_3", "node/test_concat_3d_axis_1", "node/test_where_example", "node/test_cast_FLOAT_to_FLOAT16", "simple/test_sequence_model3",
         // String tensors: constant string lists (keys, stopwords, a pattern) and "str" imports.
         "node/test_ai_onnx_ml_label_encoder_tensor_mapping", "node/test_strnormalizer_export_monday_casesensintive_upper", "node/test_regex_full_match_basic",
         "node/test_string_split_basic"];

    private static List<Seed> Seeds()
    {
        var seeds = new List<Seed> { new("vm-counting", VmTests.CountingModule(), [BufferView.Wrap(new long[] { 1, 2, 3 }, 3)]) };
        if (SharedData.OnnxBackend is null) return seeds;
        foreach (var id in SeedCases)
        {
            var c = ReferenceConformanceTests.Find(id);
            var model = OnnxImporter.Load(c.ModelPath);
            var inputs = ConformanceRunner.ReadInputs(c, model).Select((v, i) => CompiledEngine.ToValue(v, i)).ToArray();
            seeds.Add(new Seed(id, KilnCompiler.Compile(model).Bytes, inputs));
        }
        return seeds;
    }

    [Fact]
    public void SeedsRunUnmutated()
    {
        foreach (var seed in Seeds())
        {
            using var module = Module.Load(seed.Bytes);
            using var device = new LocalSyncDevice();
            using var context = new Instance().CreateContext(module, device);
            Assert.NotEmpty(context.GetFunction("main").InvokeValues(seed.Inputs));
        }
    }

    [Fact]
    public void MutatedModulesFailOnlyWithRuntimeErrors()
    {
        int iterations = int.TryParse(Environment.GetEnvironmentVariable("KILN_FUZZ_ITERATIONS"), out int n) ? n : 100_000;
        var seeds = Seeds();
        var rng = new Random(20261122);
        var instance = new Instance();
        using var device = new LocalSyncDevice();
        var options = new ContextOptions { MaxBufferBytes = 64 << 20 };
        int loaded = 0, ran = 0;
        for (int it = 0; it < iterations; it++)
        {
            var seed = seeds[it % seeds.Count];
            var bytes = (byte[])seed.Bytes.Clone();
            string kind = Mutate(bytes, rng, it, out bytes);
            try
            {
                using var module = Module.Load(bytes);
                loaded++;
                using var context = instance.CreateContext(module, device, options);
                context.GetFunction("main").InvokeValues(seed.Inputs, TimeSpan.FromSeconds(2), CancellationToken.None);
                ran++;
            }
            catch (KilnRuntimeException) { }
            catch (Exception e)
            {
                Assert.Fail($"iteration {it} ({kind}) on {seed.Name}: {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }
        }
        // Some mutations must get past verification (constants, and changes the verifier accepts), or the test proves little.
        Assert.True(loaded > iterations / 20, $"only {loaded} of {iterations} mutated modules loaded");
        Assert.True(ran > 0);
    }

    private static string Mutate(byte[] original, Random rng, int it, out byte[] bytes)
    {
        bytes = original;
        var header = ReadHeader(bytes);
        int metaStart = (int)header.SectionTableOffset, metaEnd = (int)header.MetadataEnd;
        switch (it % 8)
        {
            case 0:
                for (int k = 1 + rng.Next(4); k > 0; k--) bytes[rng.Next(bytes.Length)] ^= (byte)(1 << rng.Next(8));
                return "bit flips, stale checksum";
            case 1:
                for (int k = 1 + rng.Next(4); k > 0; k--) bytes[rng.Next(metaStart, metaEnd)] ^= (byte)(1 << rng.Next(8));
                FixChecksum(bytes);
                return "metadata bit flips";
            case 2:
                Array.Resize(ref bytes, rng.Next(bytes.Length));
                return "truncation";
            case 3:
            {
                // A 32-bit field of a table record set to a boundary value.
                int at = metaStart + 4 * rng.Next((metaEnd - metaStart) / 4);
                uint[] values = [0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, (uint)bytes.Length, (uint)bytes.Length + 1, (uint)rng.Next()];
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), values[rng.Next(values.Length)]);
                FixChecksum(bytes);
                return "table field";
            }
            case 4:
            {
                var (off, len) = Section(bytes, SectionKind.Bytecode);
                if (len == 0) return "none";
                int start = off + rng.Next(len), count = Math.Min(off + len - start, 1 + rng.Next(8));
                rng.NextBytes(bytes.AsSpan(start, count));
                FixChecksum(bytes);
                return "bytecode";
            }
            case 5:
            {
                var (off, len) = Section(bytes, SectionKind.KernelData);
                if (len == 0) return "none";
                int start = off + rng.Next(len), count = Math.Min(off + len - start, 1 + rng.Next(4));
                rng.NextBytes(bytes.AsSpan(start, count));
                FixChecksum(bytes);
                return "kernel descriptor";
            }
            case 6:
            {
                // Push-constant and size registers come from ConstI64 immediates: set one to an extreme value.
                var (off, len) = Section(bytes, SectionKind.Bytecode);
                for (int tries = 0; tries < 64 && len > 11; tries++)
                {
                    int at = off + rng.Next(len - 11);
                    if (bytes[at] != 0x10) continue; // ConstI64 r i64
                    long[] values = [-1, 0, long.MaxValue, long.MinValue, 1L << 40, 1L << 31, rng.NextInt64(-1000, 1000)];
                    BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(at + 3), values[rng.Next(values.Length)]);
                    FixChecksum(bytes);
                    return "immediate";
                }
                return "none";
            }
            default:
            {
                var (off, len) = Section(bytes, SectionKind.ConstantData);
                if (len == 0) return "none";
                rng.NextBytes(bytes.AsSpan(off + rng.Next(len), 1));
                return "constant data";
            }
        }
    }

    private static ModuleHeader ReadHeader(byte[] b) => System.Runtime.InteropServices.MemoryMarshal.Read<ModuleHeader>(b);

    private static (int Offset, int Length) Section(byte[] b, SectionKind kind)
    {
        var h = ReadHeader(b);
        for (int i = 0; i < h.SectionCount; i++)
        {
            var e = System.Runtime.InteropServices.MemoryMarshal.Read<SectionEntry>(b.AsSpan((int)h.SectionTableOffset + i * 24));
            if (e.Kind == kind && e.Offset + e.Length <= (ulong)b.Length) return ((int)e.Offset, (int)e.Length);
        }
        return (0, 0);
    }

    private static void FixChecksum(byte[] b)
    {
        var h = ReadHeader(b);
        if (h.MetadataEnd > b.Length || h.SectionTableOffset > h.MetadataEnd) return;
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(40), Crc32.Compute(b.AsSpan((int)h.SectionTableOffset, (int)(h.MetadataEnd - h.SectionTableOffset))));
    }
}
