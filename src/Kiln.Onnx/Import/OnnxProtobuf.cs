using Google.Protobuf;
using Kiln.Ir;

namespace Kiln.Onnx;

/// <summary>Protobuf parsing with Kiln's errors: malformed bytes become <see cref="ErrorCode.InvalidModel"/>.</summary>
internal static class OnnxProtobuf
{
    public static T Parse<T>(MessageParser<T> parser, ReadOnlySpan<byte> bytes, string what) where T : IMessage<T>
    {
        try
        {
            return parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new KilnException(ErrorCode.InvalidModel, $"{what} is not a valid ONNX protobuf message: {e.Message}", e);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or OverflowException or IndexOutOfRangeException or InvalidCastException)
        {
            throw new KilnException(ErrorCode.InvalidModel, $"{what} is not a valid ONNX protobuf message: {e.Message}", e);
        }
    }
}
