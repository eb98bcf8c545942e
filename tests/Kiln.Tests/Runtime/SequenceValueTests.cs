using Kiln.Compiler;
using Kiln.Conformance;
using Kiln.Onnx;
using Kiln.Runtime;
using Kiln.Runtime.Format;
using Kiln.Runtime.Hal;
using Kiln.Runtime.Vm;
using Kiln.Tests.Conformance;

namespace Kiln.Tests.Runtime;

/// <summary>Sequences and optionals at a compiled function's boundary: kinds in the signature, typed errors for wrong kinds.</summary>
public class SequenceValueTests
{
    private static Function Load(string id, out IDisposable[] owned)
    {
        var model = OnnxImporter.Load(ReferenceConformanceTests.Find(id).ModelPath);
        var module = Module.Load(KilnCompiler.Compile(model).Bytes);
        var device = new LocalSyncDevice();
        var context = new Instance().CreateContext(module, device);
        owned = [context, device, module];
        return context.GetFunction("main");
    }

    private static void Release(IDisposable[] owned)
    {
        foreach (var d in owned) d.Dispose();
    }

    [SkippableFact]
    public void SequenceInsertTakesAndReturnsSequences()
    {
        Skip.If(SharedData.OnnxBackend is null, SharedData.MissingMessage);
        var main = Load("node/test_sequence_insert_at_back", out var owned);
        try
        {
            Assert.Equal(ParameterKind.Sequence, main.Inputs[0].Kind);
            Assert.Equal(ParameterKind.Sequence, main.Outputs[0].Kind);
            var empty = new TensorSequence(DType.Int64, []);
            var result = main.InvokeValues([empty, BufferView.Wrap(new long[] { 1, 2, 3 }, 3)]);
            var s = Assert.IsType<TensorSequence>(result[0]);
            Assert.Equal(new long[] { 1, 2, 3 }, s[0].ToArray<long>());

            // A tensor where a sequence goes, a sequence of the wrong dtype, none where nothing is optional.
            var tensor = BufferView.Wrap(new long[] { 4, 5, 6 }, 3);
            Assert.Equal(StatusCode.InvalidArgument, Assert.Throws<KilnRuntimeException>(() => main.InvokeValues([tensor, tensor])).Code);
            var floats = new TensorSequence(DType.Float32, [BufferView.Wrap(new float[] { 1 }, 1)]);
            Assert.Equal(StatusCode.InvalidArgument, Assert.Throws<KilnRuntimeException>(() => main.InvokeValues([floats, tensor])).Code);
            Assert.Equal(StatusCode.InvalidArgument, Assert.Throws<KilnRuntimeException>(() => main.InvokeValues([null, tensor])).Code);
            Assert.Equal(StatusCode.InvalidArgument, Assert.Throws<KilnRuntimeException>(() => main.InvokeValues([empty, empty])).Code);
            // The tensor-only entry point says the output is a sequence.
            Assert.Equal(StatusCode.InvalidArgument, Assert.Throws<KilnRuntimeException>(() => main.Invoke(tensor)).Code);
        }
        finally { Release(owned); }
    }

    [SkippableFact]
    public void OptionalGetElementOfNoneFails()
    {
        Skip.If(SharedData.OnnxBackend is null, SharedData.MissingMessage);
        var main = Load("node/test_optional_get_element_optional_tensor", out var owned);
        try
        {
            Assert.Equal(ParameterKind.OptionalTensor, main.Inputs[0].Kind);
            var x = BufferView.Wrap(new float[] { 1, 2, 3, 4 }, 4);
            Assert.Equal(new float[] { 1, 2, 3, 4 }, Assert.IsType<BufferView>(main.InvokeValues([x])[0]).ToArray<float>());
            var e = Assert.Throws<KilnRuntimeException>(() => main.InvokeValues([null]));
            Assert.Contains("none", e.Message);
        }
        finally { Release(owned); }
    }

    [SkippableFact]
    public void SplitSizesThatDoNotAddUpFail()
    {
        Skip.If(SharedData.OnnxBackend is null, SharedData.MissingMessage);
        var main = Load("simple/test_sequence_model8", out var owned);
        try
        {
            var x = BufferView.Wrap(new float[] { 1, 2, 3, 4, 5 }, 5);
            var length = Assert.IsType<BufferView>(main.InvokeValues([x, BufferView.Wrap(new long[] { 1, 2, 2 }, 3)])[0]);
            Assert.Equal(3L, length.ToArray<long>()[0]);
            var e = Assert.Throws<KilnRuntimeException>(() => main.InvokeValues([x, BufferView.Wrap(new long[] { 1, 2, 3 }, 3)]));
            Assert.Equal(StatusCode.InvalidArgument, e.Code);
        }
        finally { Release(owned); }
    }
}
