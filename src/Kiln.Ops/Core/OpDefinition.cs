using Kiln.Ir;

namespace Kiln.Ops;

/// <summary>
/// The semantics of one operator, in the form the IR holds it (the newest ONNX version; the
/// importer upgrades older forms). Each definition says how many operands and results the
/// operator takes, infers result types from operand types (and operand values when they are
/// known), and evaluates the operator on host data: the reference implementation every compiled
/// kernel is tested against, and the engine of constant folding.
/// Definitions are stateless and thread-safe.
/// </summary>
public abstract class OpDefinition
{
    /// <summary>Operator domain: "" for ai.onnx.</summary>
    public virtual string Domain => "";
    public abstract string OpType { get; }

    public virtual int MinInputs => 1;
    public virtual int MaxInputs => MinInputs;
    public virtual int MinOutputs => 1;
    public virtual int MaxOutputs => MinOutputs;

    /// <summary>Sets the type of every present result, or throws a KilnException naming the problem.</summary>
    public abstract void InferTypes(InferenceContext ctx);

    /// <summary>Computes every present result from the operand values.</summary>
    public abstract void Evaluate(EvaluationContext ctx);

    /// <summary>
    /// Whether the result depends only on the operands (no randomness, no side effects), so it may
    /// be folded at compile time when the operands are constants.
    /// </summary>
    public virtual bool IsDeterministic => true;

    public string QualifiedType => Domain.Length == 0 ? OpType : Domain + "." + OpType;
}

/// <summary>
/// Marks a static class that registers operator definitions: it must have a method
/// <c>public static void Register(OpRegistry registry)</c>. The registry finds every such class in
/// this assembly, so adding an operator family is adding one file.
/// </summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class OpFamilyAttribute : System.Attribute { }
