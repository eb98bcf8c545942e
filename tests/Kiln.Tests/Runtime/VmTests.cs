using Kiln.Compiler.ModuleWriter;
using Kiln.Runtime;
using Kiln.Runtime.Format;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Vm;

namespace Kiln.Tests.Runtime;

/// <summary>The VM and HAL plumbing, on modules assembled by hand.</summary>
public class VmTests
{
    /// <summary>
    /// main(x: i64[N]) -> y: i64[N+1]: y[i] = x.dim(0) * 10 + i for i in 0..N, through a loop,
    /// a call, buffer stores and a host read back (exercising flush on the task device).
    /// </summary>
    public static byte[] CountingModule()
    {
        var mb = new ModuleBuilder();
        int dim = mb.Import("hal.view.dim", 1, 1, 1, 0);
        int alloc = mb.Import("hal.buffer.allocate", 1, 0, 0, 1);
        int store = mb.Import("hal.buffer.store", 3, 1, 0, 0);
        int load = mb.Import("hal.buffer.load", 2, 1, 1, 0);
        int create = mb.Import("hal.view.create", 2, 1, 0, 1, ImportFlags.VariadicValues);

        // helper(a, b) -> a * 10 + b
        var h = mb.NewCode();
        h.ReserveArguments(2, 0);
        var ten = h.Const(10);
        var t = h.Binary(Opcode.Mul, 0, ten);
        var s = h.Binary(Opcode.Add, t, 1);
        h.Return([s], []);
        int helper = mb.AddFunction("helper", h, 2, 0, 1, 0);

        var c = mb.NewCode();
        c.ReserveArguments(0, 1);
        var zero = c.Const(0);
        var one = c.Const(1);
        var eight = c.Const(8);
        var n = c.NewValue();
        c.CallImport(dim, [zero], [0], [n], []);
        var count = c.Binary(Opcode.Add, n, one);
        var bytes = c.Binary(Opcode.Mul, count, eight);
        var buf = c.NewRef();
        c.CallImport(alloc, [bytes], [], [], [buf]);
        var i = c.Const(0);
        var dtype = c.Const((long)DType.Int64);
        var loop = c.NewLabel();
        var done = c.NewLabel();
        c.Mark(loop);
        var more = c.Binary(Opcode.Lt, i, count);
        c.BranchUnless(more, done);
        var value = c.NewValue();
        c.Call(helper, [n, i], [], [value], []);
        var offset = c.Binary(Opcode.Mul, i, eight);
        c.CallImport(store, [offset, dtype, value], [buf], [], []);
        c.Binary(Opcode.Add, i, i, one);
        c.Branch(loop);
        c.Mark(done);
        // Read element 0 back on the host and check it.
        var first = c.NewValue();
        c.CallImport(load, [zero, dtype], [buf], [first], []);
        var expect = c.Binary(Opcode.Mul, n, c.Const(10));
        c.Assert(c.Binary(Opcode.Eq, first, expect), "element 0 read back wrong");
        var view = c.NewRef();
        c.CallImport(create, [zero, dtype, count], [buf], [], [view]);
        c.Return([], [view]);
        int main = mb.AddFunction("main", c, 0, 1, 0, 1);
        int sig = mb.AddSignature([new("x", DType.Int64, [(-1, "N")])], [new("y", DType.Int64, [(-1, null)])]);
        mb.Export("main", main, sig);
        return mb.ToArray();
    }

    public static IEnumerable<object[]> Devices() => [["sync"], ["task"]];

    public static Device MakeDevice(string name) => name == "sync" ? new LocalSyncDevice() : new LocalTaskDevice(2);

    [Theory]
    [MemberData(nameof(Devices))]
    public void RunsLoopsCallsAndHostReads(string deviceName)
    {
        using var module = Module.Load(CountingModule());
        using var device = MakeDevice(deviceName);
        using var context = new Instance().CreateContext(module, device);
        var main = context.GetFunction("main");
        Assert.Equal("x: int64[N]", main.Inputs[0].ToString());
        var outputs = main.Invoke(BufferView.Wrap(new long[] { 5, 6, 7 }, 3));
        Assert.Equal(new long[] { 30, 31, 32, 33 }, outputs[0].ToArray<long>());
        // Again, to reuse the pooled invocation state.
        Assert.Equal(new long[] { 10, 11 }, main.Invoke(BufferView.Wrap(new long[] { 1 }, 1))[0].ToArray<long>());
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public async Task InvokeAsyncGivesTheSameResult(string deviceName)
    {
        using var module = Module.Load(CountingModule());
        using var device = MakeDevice(deviceName);
        using var context = new Instance().CreateContext(module, device);
        var outputs = await context.GetFunction("main").InvokeAsync([BufferView.Wrap(new long[] { 0, 0 }, 2)]);
        Assert.Equal(new long[] { 20, 21, 22 }, outputs[0].ToArray<long>());
    }

    [Fact]
    public void WrongInputsAreClearErrors()
    {
        using var module = Module.Load(CountingModule());
        using var device = new LocalSyncDevice();
        using var context = new Instance().CreateContext(module, device);
        var main = context.GetFunction("main");
        var e = Assert.Throws<KilnRuntimeException>(() => main.Invoke(BufferView.Wrap(new float[] { 1 }, 1)));
        Assert.Equal(StatusCode.InvalidArgument, e.Code);
        Assert.Contains("must be int64", e.Message);
        e = Assert.Throws<KilnRuntimeException>(() => main.Invoke(BufferView.Wrap(new long[] { 1, 2 }, 1, 2)));
        Assert.Contains("rank 1", e.Message);
        e = Assert.Throws<KilnRuntimeException>(() => main.Invoke());
        Assert.Contains("takes 1 inputs", e.Message);
        e = Assert.Throws<KilnRuntimeException>(() => context.GetFunction("nope"));
        Assert.Contains("exports no function 'nope'", e.Message);
    }

    [Fact]
    public void SyncSemaphoreWaitThatCanNeverSucceedFailsInsteadOfHanging()
    {
        using var device = new LocalSyncDevice();
        var sem = device.CreateSemaphore();
        var e = Assert.Throws<KilnRuntimeException>(() => sem.Wait(1));
        Assert.Equal(StatusCode.FailedPrecondition, e.Code);
    }

    [Fact]
    public async Task FirstFailureWinsAndReachesEveryWaiter()
    {
        using var device = new LocalTaskDevice(2);
        var sem = device.CreateSemaphore();
        var waiters = Enumerable.Range(0, 3).Select(_ => Task.Run(() => Assert.Throws<KilnRuntimeException>(() => sem.Wait(5)))).ToArray();
        var asyncWaiter = sem.WaitAsync(5);
        Thread.Sleep(50);
        sem.Fail(new KilnRuntimeException(StatusCode.Aborted, "first"));
        sem.Fail(new KilnRuntimeException(StatusCode.Aborted, "second"));
        sem.Signal(9); // ignored after failure
        foreach (var w in waiters) Assert.Contains("first", (await w).Message);
        Assert.Contains("first", (await Assert.ThrowsAsync<KilnRuntimeException>(() => asyncWaiter)).Message);
        Assert.Contains("first", Assert.Throws<KilnRuntimeException>(() => sem.Wait(1)).Message);
    }

    [Fact]
    public async Task WaitsHonorDeadlinesAndCancellation()
    {
        using var device = new LocalTaskDevice(2);
        var sem = device.CreateSemaphore();
        Assert.Equal(StatusCode.DeadlineExceeded, Assert.Throws<KilnRuntimeException>(() => sem.Wait(1, TimeSpan.FromMilliseconds(30))).Code);
        using var cts = new CancellationTokenSource(30);
        Assert.Throws<OperationCanceledException>(() => sem.Wait(1, cts.Token));
        var t = Task.Run(() => sem.Wait(3));
        sem.Signal(3);
        Assert.Same(t, await Task.WhenAny(t, Task.Delay(5000)));
    }
}
