namespace Kiln.Runtime;

/// <summary>What went wrong, in the manner of IREE's status codes.</summary>
public enum StatusCode
{
    /// <summary>A module file is malformed or fails verification.</summary>
    InvalidModule,
    /// <summary>A caller's argument is wrong (input count, dtype, shape, name).</summary>
    InvalidArgument,
    /// <summary>An index or size outside its bounds at run time.</summary>
    OutOfRange,
    /// <summary>The module needs something this runtime or machine lacks (CPU features, kernels, formats).</summary>
    Unsupported,
    /// <summary>An operation called in a state that does not allow it (a wait that can never be satisfied).</summary>
    FailedPrecondition,
    /// <summary>A wait passed its deadline.</summary>
    DeadlineExceeded,
    /// <summary>A wait was cancelled.</summary>
    Cancelled,
    /// <summary>Memory or another resource ran out.</summary>
    ResourceExhausted,
    /// <summary>The program itself reported a failure (a check in the host program).</summary>
    Aborted,
}

/// <summary>The exception the runtime throws at its public boundary. Its message names what is wrong.</summary>
public sealed class KilnRuntimeException : Exception
{
    public StatusCode Code { get; }

    public KilnRuntimeException(StatusCode code, string message) : base(message) => Code = code;
    public KilnRuntimeException(StatusCode code, string message, Exception inner) : base(message, inner) => Code = code;
}
