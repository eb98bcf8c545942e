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
/// </summary>
public static class PlanMemory
{
    public const int Alignment = 64;

    public static void Run(ExecutionPlan plan)
    {
        ComputeLiveness(plan);
        var blocks = plan.Blocks.Where(b => b.Kind == StorageKind.Arena && b.LastUse >= 0).ToList();
        if (blocks.All(b => b.Bytes.IsKnown)) PlanStatic(plan, blocks);
        else PlanSymbolic(plan, blocks);
    }

    private static void ComputeLiveness(ExecutionPlan plan)
    {
        for (int s = 0; s < plan.Steps.Count; s++)
            foreach (var t in plan.Steps[s].Reads.Concat(plan.Steps[s].Writes))
            {
                t.Block.FirstUse = Math.Min(t.Block.FirstUse, s);
                t.Block.LastUse = Math.Max(t.Block.LastUse, s);
            }
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
