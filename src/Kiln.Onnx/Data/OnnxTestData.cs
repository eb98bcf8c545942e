using Kiln.Ir;
using Kiln.Onnx.Proto;

namespace Kiln.Onnx;

/// <summary>
/// Reads the serialized values of the ONNX backend test suite (input_K.pb / output_K.pb): a
/// TensorProto, or a SequenceProto or OptionalProto when the graph declares a sequence or optional.
/// </summary>
public static class OnnxTestData
{
    public static DataValue Read(string path, IrType? declared)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new KilnException(ErrorCode.Io, $"cannot read '{path}': {e.Message}", e);
        }
        return Read(bytes, declared, Path.GetFileName(path));
    }

    public static DataValue Read(ReadOnlySpan<byte> bytes, IrType? declared, string what) => declared switch
    {
        SequenceType s => FromSequence(OnnxProtobuf.Parse(SequenceProto.Parser, bytes, what), s.ElementType, what),
        OptionalType o => FromOptional(OnnxProtobuf.Parse(OptionalProto.Parser, bytes, what), o.ElementType, what),
        _ => OnnxTensors.Parse(bytes, what),
    };

    private static SequenceData FromSequence(SequenceProto p, IrType elementType, string what)
    {
        var items = new List<DataValue>();
        switch ((SequenceProto.Types.DataType)p.ElemType)
        {
            case SequenceProto.Types.DataType.Tensor:
            case SequenceProto.Types.DataType.Undefined:
                items.AddRange(p.TensorValues.Select(t => (DataValue)OnnxTensors.Read(t, null, what)));
                break;
            case SequenceProto.Types.DataType.Sequence:
                var inner = elementType is SequenceType st ? st.ElementType : elementType;
                items.AddRange(p.SequenceValues.Select(s => (DataValue)FromSequence(s, inner, what)));
                break;
            case SequenceProto.Types.DataType.Optional:
                var innerOpt = elementType is OptionalType ot ? ot.ElementType : elementType;
                items.AddRange(p.OptionalValues.Select(o => (DataValue)FromOptional(o, innerOpt, what)));
                break;
            default:
                throw new KilnException(ErrorCode.Unsupported, $"{what}: sequences of {(SequenceProto.Types.DataType)p.ElemType} are not supported");
        }
        return new SequenceData(elementType, items);
    }

    private static OptionalData FromOptional(OptionalProto p, IrType elementType, string what)
    {
        switch ((OptionalProto.Types.DataType)p.ElemType)
        {
            case OptionalProto.Types.DataType.Undefined: return new OptionalData(elementType, null);
            case OptionalProto.Types.DataType.Tensor:
                return new OptionalData(elementType, p.TensorValue is null ? null : OnnxTensors.Read(p.TensorValue, null, what));
            case OptionalProto.Types.DataType.Sequence:
                var inner = elementType is SequenceType st ? st.ElementType : elementType;
                return new OptionalData(elementType, p.SequenceValue is null ? null : FromSequence(p.SequenceValue, inner, what));
            case OptionalProto.Types.DataType.Optional:
                var innerOpt = elementType is OptionalType ot ? ot.ElementType : elementType;
                return new OptionalData(elementType, p.OptionalValue is null ? null : FromOptional(p.OptionalValue, innerOpt, what));
            default:
                throw new KilnException(ErrorCode.Unsupported, $"{what}: optionals of {(OptionalProto.Types.DataType)p.ElemType} are not supported");
        }
    }
}
