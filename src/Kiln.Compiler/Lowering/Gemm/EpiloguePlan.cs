using Kiln.Ir;
using Kiln.Runtime.Kernels.Gemm;

namespace Kiln.Compiler.Lowering.Gemm;

/// <summary>An epilogue operand: a tensor and its element strides along the result's batch, row and column (column stride 0 or 1).</summary>
public sealed record EpilogueOperand(TensorRef Tensor, Dim BatchStride, Dim RowStride, Dim ColumnStride);

/// <summary>
/// The epilogue of one GEMM-based dispatch under construction: its stages and the operand tensors
/// the Add/Multiply stages read, in stage order (see <see cref="Epilogue"/>). Not thread-safe.
/// </summary>
public sealed class EpiloguePlan
{
    private readonly List<EpilogueStage> _stages = [];
    private readonly List<EpilogueOperand> _operands = [];

    public IReadOnlyList<EpilogueStage> Stages => _stages;
    public IReadOnlyList<EpilogueOperand> Operands => _operands;

    public EpiloguePlan Add(EpilogueStage stage)
    {
        if (stage.HasOperand) throw new ArgumentException("stages with an operand go through AddOperand");
        _stages.Add(stage);
        return this;
    }

    public EpiloguePlan AddOperand(EpilogueOp op, EpilogueOperand operand, float scale = 1)
    {
        _stages.Add(new EpilogueStage(op, scale));
        _operands.Add(operand);
        return this;
    }

    /// <summary>A copy with every stage of <paramref name="other"/> appended.</summary>
    public EpiloguePlan Then(EpiloguePlan other)
    {
        var p = new EpiloguePlan();
        p._stages.AddRange(_stages);
        p._operands.AddRange(_operands);
        p._stages.AddRange(other._stages);
        p._operands.AddRange(other._operands);
        return p;
    }

    public Epilogue Build()
    {
        if (_stages.Count > Epilogue.MaxStages) throw new KilnException(ErrorCode.Unsupported, $"an epilogue of {_stages.Count} stages is too long");
        return new Epilogue(_stages);
    }

    /// <summary>The push constants of the operands: three strides each.</summary>
    public IEnumerable<Dim> Constants() => _operands.SelectMany(o => new[] { o.BatchStride, o.RowStride, o.ColumnStride });
}
