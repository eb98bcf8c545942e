using Kiln.Ir;

namespace Kiln.Ops.Operators;

/// <summary>
/// The sizes of an Attention node, symbolic during inference: Q is [B, Hq, Sq, D] (or packed
/// [B, Sq, Hq*D] with q_num_heads), K [B, Hkv, Skv, D], V [B, Hkv, Skv, Dv], the cache
/// [B, Hkv, P, D|Dv]; keys total P + Skv.
/// </summary>
internal sealed record AttentionGeometry(bool Packed, Dim Batch, Dim QHeads, Dim KvHeads, Dim QLength, Dim KvLength, Dim PastLength, Dim HeadSize, Dim VHeadSize)
{
    public Dim TotalLength => PastLength + KvLength;

    public static AttentionGeometry Resolve(Operation op, Shape q, Shape k, Shape v, Shape? pastKey, Shape? pastValue, Func<string, KilnException> error)
    {
        if (q.Rank is not (3 or 4) || k.Rank != q.Rank || v.Rank != q.Rank)
            throw error($"Q, K and V must all be rank 3 or all rank 4, got {q}, {k} and {v}");
        bool packed = q.Rank == 3;
        Dim qHeads, kvHeads, headSize, keyHeadSize, vHeadSize;
        if (packed)
        {
            long qCount = op.GetInt("q_num_heads", 0), kvCount = op.GetInt("kv_num_heads", 0);
            if (qCount <= 0 || kvCount <= 0)
                throw error("packed (rank-3) Q, K, V need positive q_num_heads and kv_num_heads attributes");
            (qHeads, kvHeads) = (qCount, kvCount);
            headSize = DimChecks.SplitEvenly(q[2], qCount, "Q hidden size", error);
            keyHeadSize = DimChecks.SplitEvenly(k[2], kvCount, "K hidden size", error);
            vHeadSize = DimChecks.SplitEvenly(v[2], kvCount, "V hidden size", error);
        }
        else
        {
            (qHeads, kvHeads, headSize, keyHeadSize, vHeadSize) = (q[1], k[1], q[3], k[3], v[3]);
            DimChecks.ExpectEqual(v[1], kvHeads, "V heads", error);
            foreach (var (name, heads) in new[] { ("q_num_heads", qHeads), ("kv_num_heads", kvHeads) })
                if (op.HasAttribute(name)) DimChecks.ExpectEqual(op.GetInt(name), heads, name, error);
        }
        Dim batch = q[0], kvLength = k[packed ? 1 : 2];
        DimChecks.ExpectEqual(k[0], batch, "K batch", error);
        DimChecks.ExpectEqual(v[0], batch, "V batch", error);
        DimChecks.ExpectEqual(v[packed ? 1 : 2], kvLength, "V length", error);
        DimChecks.ExpectEqual(keyHeadSize, headSize, "K head size", error);
        if (qHeads.IsKnown && kvHeads.IsKnown && (kvHeads.Value <= 0 || qHeads.Value % kvHeads.Value != 0))
            throw error($"q heads ({qHeads}) must be a multiple of kv heads ({kvHeads})");

        Dim pastLength = 0;
        if (pastKey is not null && pastValue is not null)
        {
            if (pastKey.Rank != 4 || pastValue.Rank != 4) throw error($"past_key and past_value must be rank 4, got {pastKey} and {pastValue}");
            pastLength = pastKey[2];
            DimChecks.ExpectEqual(pastKey[0], batch, "past_key batch", error);
            DimChecks.ExpectEqual(pastKey[1], kvHeads, "past_key heads", error);
            DimChecks.ExpectEqual(pastKey[3], headSize, "past_key head size", error);
            DimChecks.ExpectEqual(pastValue[0], batch, "past_value batch", error);
            DimChecks.ExpectEqual(pastValue[1], kvHeads, "past_value heads", error);
            DimChecks.ExpectEqual(pastValue[2], pastLength, "past_value length", error);
            DimChecks.ExpectEqual(pastValue[3], vHeadSize, "past_value head size", error);
        }
        return new(packed, batch, qHeads, kvHeads, q[packed ? 1 : 2], kvLength, pastLength, headSize, vHeadSize);
    }

    /// <summary>
    /// attn_mask broadcasts to [B, Hq, Sq, n] with n at most the key count (missing keys are
    /// masked out).
    /// </summary>
    public void CheckMask(Shape mask, Func<string, KilnException> error)
    {
        if (mask.Rank is < 1 or > 4) throw error($"attn_mask must have rank 1 to 4, got {mask}");
        var last = mask[mask.Rank - 1];
        if (last.IsKnown && TotalLength.IsKnown && last.Value > TotalLength.Value)
            throw error($"attn_mask covers {last} keys, but there are only {TotalLength}");
        Dim[] leading = [Batch, QHeads, QLength];
        for (int i = 0; i < mask.Rank - 1; i++)
        {
            var d = mask[i];
            var target = leading[3 - (mask.Rank - 1) + i];
            if (d.IsKnown && target.IsKnown && d.Value != 1 && d.Value != target.Value)
                throw error($"attn_mask {mask} does not broadcast to [{Batch},{QHeads},{QLength},{TotalLength}]");
        }
    }
}

/// <summary>The concrete sizes of an Attention evaluation, with the layout conversions it needs.</summary>
internal sealed class AttentionSizes(AttentionGeometry g)
{
    public long Batch { get; } = g.Batch.Value;
    public long QHeads { get; } = g.QHeads.Value;
    public long KvHeads { get; } = g.KvHeads.Value;
    public long QLength { get; } = g.QLength.Value;
    public long KvLength { get; } = g.KvLength.Value;
    public long PastLength { get; } = g.PastLength.Value;
    public long TotalLength { get; } = g.TotalLength.Value;
    public long HeadSize { get; } = g.HeadSize.Value;
    public long VHeadSize { get; } = g.VHeadSize.Value;

    /// <summary>Q, K or V as [batch, heads, length, size]; packed [batch, length, heads*size] data is unpacked.</summary>
    public double[] HeadMajor(double[] data, bool packed, long heads, long length, long size)
    {
        if (!packed) return data;
        var result = new double[data.Length];
        for (long b = 0; b < Batch; b++)
        for (long s = 0; s < length; s++)
        for (long h = 0; h < heads; h++)
            Array.Copy(data, ((b * length + s) * heads + h) * size, result, ((b * heads + h) * length + s) * size, size);
        return result;
    }

    /// <summary>The output [batch, q_heads, q_length, size] packed as [batch, q_length, q_heads*size].</summary>
    public double[] Packed(double[] y)
    {
        var result = new double[y.Length];
        for (long b = 0; b < Batch; b++)
        for (long h = 0; h < QHeads; h++)
        for (long s = 0; s < QLength; s++)
            Array.Copy(y, ((b * QHeads + h) * QLength + s) * VHeadSize, result, ((b * QLength + s) * QHeads + h) * VHeadSize, VHeadSize);
        return result;
    }

    /// <summary>The cache extended with the new keys or values along the sequence axis: [batch, kv_heads, total, size].</summary>
    public double[] AppendToCache(TensorData? past, double[] current, long size)
    {
        if (past is null) return current;
        var cache = FloatBuffers.Read(past);
        var result = new double[Batch * KvHeads * TotalLength * size];
        for (long bh = 0; bh < Batch * KvHeads; bh++)
        {
            Array.Copy(cache, bh * PastLength * size, result, bh * TotalLength * size, PastLength * size);
            Array.Copy(current, bh * KvLength * size, result, (bh * TotalLength + PastLength) * size, KvLength * size);
        }
        return result;
    }
}
