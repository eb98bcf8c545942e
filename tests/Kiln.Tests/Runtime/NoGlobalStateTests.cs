using System.Reflection;
using System.Runtime.CompilerServices;
using Kiln.Runtime;
using Module = Kiln.Runtime.Module;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Vm;

namespace Kiln.Tests.Runtime;

/// <summary>
/// Rule 1 of the design: no process-global mutable state in the runtime. Every static field of
/// every type in Kiln.Runtime (compiler-generated ones included: lambda and method-group caches
/// are lazy static caches) must be a constant or a read-only field of an immutable type.
/// </summary>
public class NoGlobalStateTests
{
    private static readonly Type[] ImmutableTypes =
    [
        typeof(string), typeof(bool), typeof(byte), typeof(sbyte), typeof(short), typeof(ushort), typeof(int), typeof(uint),
        typeof(long), typeof(ulong), typeof(float), typeof(double), typeof(decimal), typeof(Half), typeof(char), typeof(nint), typeof(nuint),
    ];

    private static bool IsImmutable(Type t) => ImmutableTypes.Contains(t) || t.IsEnum;

    [Fact]
    public void RuntimeHasNoStaticMutableState()
    {
        var offenders = new List<string>();
        foreach (var type in typeof(Module).Assembly.GetTypes())
        {
            foreach (var f in type.GetFields(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                if (f.IsLiteral) continue; // const
                if (f.IsInitOnly && IsImmutable(f.FieldType)) continue;
                // <PrivateImplementationDetails> holds the raw bytes of array and span literals: read-only data, not fields anyone writes.
                if (type.Name.StartsWith("<PrivateImplementationDetails>", StringComparison.Ordinal)) continue;
                string kind = type.IsDefined(typeof(CompilerGeneratedAttribute)) || f.IsDefined(typeof(CompilerGeneratedAttribute)) ? " (compiler-generated cache)" : "";
                offenders.Add($"{type.FullName}.{f.Name}: {f.FieldType.Name}{(f.IsInitOnly ? " readonly" : "")}{kind}");
            }
        }
        Assert.True(offenders.Count == 0, "static mutable state in Kiln.Runtime:\n" + string.Join("\n", offenders));
    }

    /// <summary>A type only one of the two instances knows.</summary>
    private sealed class Widget(int size) { public int Size { get; } = size; }
    private sealed class Gadget(string name) { public string Name { get; } = name; }

    [Fact]
    public async Task TwoInstancesWithDifferentTypesRunSideBySide()
    {
        var bytes = VmTests.CountingModule();
        async Task<(string?, string?, long[])> RunOn(Action<Instance> register, string device)
        {
            await Task.Yield();
            var instance = new Instance();
            register(instance);
            using var module = Module.Load(bytes);
            using var dev = VmTests.MakeDevice(device);
            using var context = instance.CreateContext(module, dev);
            long[] last = [];
            for (int i = 0; i < 200; i++)
                last = context.GetFunction("main").Invoke(BufferView.Wrap(new long[i % 7 + 1], i % 7 + 1))[0].ToArray<long>();
            return (instance.Types.NameOf(typeof(Widget)), instance.Types.NameOf(typeof(Gadget)), last);
        }
        var a = Task.Run(() => RunOn(i => i.Types.Register("app.thing", typeof(Widget)), "sync"));
        var b = Task.Run(() => RunOn(i => i.Types.Register("app.thing", typeof(Gadget)), "task"));
        var (aw, ag, aout) = await a;
        var (bw, bg, bout) = await b;
        Assert.Equal("app.thing", aw);
        Assert.Null(ag);
        Assert.Null(bw);
        Assert.Equal("app.thing", bg);
        Assert.Equal(aout, bout);
        Assert.Equal(new long[] { 40, 41, 42, 43, 44 }, aout); // the last call: i = 199, N = 199 % 7 + 1 = 4
    }
}
