namespace Kiln.Ir;

/// <summary>What kind of problem a <see cref="KilnException"/> reports.</summary>
public enum ErrorCode
{
    /// <summary>A model file is malformed: truncated, corrupted, or inconsistent with the ONNX spec.</summary>
    InvalidModel,
    /// <summary>An operator (or an operator version, domain or attribute value) Kiln does not implement.</summary>
    UnsupportedOperator,
    /// <summary>A feature Kiln does not implement (an element type, a data layout, ...).</summary>
    Unsupported,
    /// <summary>Shapes that do not fit together, or a malformed shape.</summary>
    InvalidShape,
    /// <summary>Element types or value kinds that do not fit together.</summary>
    TypeMismatch,
    /// <summary>Bad data: tensor payload sizes, values out of range, malformed input files.</summary>
    InvalidData,
    /// <summary>A caller's argument is wrong: unknown input name, missing input, wrong shape or dtype.</summary>
    InvalidArgument,
    /// <summary>A size beyond what Kiln can hold.</summary>
    TooLarge,
    /// <summary>The IR breaks a structural rule (found by the verifier).</summary>
    InvalidIr,
    /// <summary>The text form of the IR could not be parsed.</summary>
    ParseError,
    /// <summary>Reading or writing a file failed.</summary>
    Io,
    /// <summary>An operator failed while running (for example an index out of range in Gather).</summary>
    EvaluationFailed,
}

/// <summary>
/// The one exception type the compiler side of Kiln (IR, importer, evaluator, compiler) throws
/// for bad input. Its message names what is wrong (the node, the input, the file offset).
/// </summary>
public class KilnException : Exception
{
    public ErrorCode Code { get; }

    public KilnException(ErrorCode code, string message) : base(message) => Code = code;
    public KilnException(ErrorCode code, string message, Exception inner) : base(message, inner) => Code = code;
}
