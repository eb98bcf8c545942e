using Kiln.Compiler.Lowering;
using Kiln.Ir;

namespace Kiln.Compiler.Memory;

/// <summary>
/// Static memory planning: every arena block gets an offset in one arena, so an invocation
/// allocates nothing but that arena (once, reused across calls). Blocks whose lifetimes
/// (first to last step that touches them) do not overlap may share bytes.
/// With static sizes: greedy by size (largest first, each at the lowest offset that does not
/// collide with a live block). With symbolic sizes: blocks reuse a slot whose size is the same
/// expression and whose previous tenant is dead; slot offsets are sums the host program computes.
/// Blocks whose size follows from data (symbols read from tensors) stay out of the arena: they are
/// deferred, allocated when the program reaches them.
/// </summary>
public static class PlanMemory
{
    public const int Alignment = 64;

    public static void Run(ExecutionPlan plan)
    {
        ComputeLiveness(plan);
        var dataSymbols = new HashSet<string>();
        CollectReads(plan.Steps, dataSymbols);
        foreach (var b in plan.Blocks)
            b.Deferred = b.Kind is StorageKind.Arena or StorageKind.Output && b.Bytes.Expression is { } e && e.Symbols().Any(dataSymbols.Contains);
        var blocks = plan.Blocks.Where(b => b.Kind == StorageKind.Arena && b.LastUse >= 0 && !b.Deferred).ToList();
        if (blocks.All(b => b.Bytes.IsKnown)) PlanStatic(plan, blocks);
        else PlanSymbolic(plan, blocks);
    }

    /// <summary>
    /// Numbers every step in program order (branches one after the other, since only one runs) and
    /// records each block's first and last step. A loop body runs many times, so every block it
    /// touches is live for the whole loop.
    /// </summary>
    private static void ComputeLiveness(ExecutionPlan plan)
    {
        int next = 0;
        Number(plan.Steps, ref next, loop: null);
    }

    private static void Number(IReadOnlyList<Step> steps, ref int next, (int First, int Last)? loop)
    {
        foreach (var step in steps)
        {
            switch (step)
            {
                case IfStep branch:
                    Touch(branch.Condition.Block, next, loop);
                    Number(branch.Then, ref next, loop);
                    Number(branch.Else, ref next, loop);
                    break;
                case ForStep body:
                {
                    int first = next;
                    int count = 0;
                    CountSteps(body.Body, ref count);
                    var range = (First: first, Last: first + Math.Max(count, 1) - 1);
                    if (loop is { } outer) range = (Math.Min(range.First, outer.First), Math.Max(range.Last, outer.Last));
                    if (body.Condition is not null) Touch(body.Condition.Block, first, range);
                    Number(body.Body, ref next, range);
                    break;
                }
                default:
                    foreach (var t in step.Reads.Concat(step.Writes)) Touch(t.Block, next, loop);
                    next++;
                    break;
            }
        }
    }

    /// <summary>Symbols the host program reads from tensors (sizes that follow from data).</summary>
    private static void CollectReads(IEnumerable<Step> steps, HashSet<string> symbols)
    {
        foreach (var s in steps)
        {
            symbols.UnionWith(s.DefinedSymbols);
            CollectReads(s.Children, symbols);
        }
    }

    private static void CountSteps(IReadOnlyList<Step> steps, ref int count)
    {
        foreach (var s in steps)
        {
            if (s is IfStep b) { CountSteps(b.Then, ref count); CountSteps(b.Else, ref count); }
            else if (s is ForStep f) CountSteps(f.Body, ref count);
            else count++;
        }
    }

    private static void Touch(StorageBlock block, int step, (int First, int Last)? loop)
    {
        var (first, last) = loop ?? (step, step);
        block.FirstUse = Math.Min(block.FirstUse, Math.Min(first, step));
        block.LastUse = Math.Max(block.LastUse, Math.Max(last, step));
    }

    private static bool Overlap(StorageBlock a, StorageBlock b) => a.FirstUse <= b.LastUse && b.FirstUse <= a.LastUse;

    private static long AlignUp(long x) => (x + Alignment - 1) / Alignment * Alignment;

    private static void PlanStatic(ExecutionPlan plan, List<StorageBlock> blocks)
    {
        var placed = new List<(long Offset, long Size, StorageBlock Block)>();
        long total = 0;
        foreach (var b in blocks.OrderByDescending(b => b.Bytes.Value).ThenBy(b => b.FirstUse))
        {
            long size = AlignUp(Math.Max(b.Bytes.Value, 1));
            // Candidate offsets: 0 and the end of every live, colliding block; take the lowest that fits.
            var live = placed.Where(p => Overlap(p.Block, b)).OrderBy(p => p.Offset).ToList();
            long offset = 0;
            foreach (var p in live)
            {
                if (offset + size <= p.Offset) break;
                offset = Math.Max(offset, p.Offset + p.Size);
            }
            b.ArenaOffset = offset;
            placed.Add((offset, size, b));
            total = Math.Max(total, offset + size);
        }
        plan.ArenaBytes = total;
    }

    private static void PlanSymbolic(ExecutionPlan plan, List<StorageBlock> blocks)
    {
        var slots = new List<(Dim Size, List<StorageBlock> Tenants)>();
        foreach (var b in blocks.OrderBy(b => b.FirstUse))
        {
            Dim size = (b.Bytes + (Alignment - 1)) / Alignment * Alignment;
            int slot = slots.FindIndex(s => s.Size == size && s.Tenants.All(t => !Overlap(t, b)));
            if (slot < 0) { slots.Add((size, [])); slot = slots.Count - 1; }
            slots[slot].Tenants.Add(b);
        }
        Dim offset = 0;
        foreach (var (size, tenants) in slots)
        {
            foreach (var t in tenants) t.ArenaOffset = offset;
            offset += size;
        }
        plan.ArenaBytes = offset;
    }
}
