using Kiln.Ir;

namespace Kiln.Onnx;

/// <summary>
/// Upgrades of the convolution / pooling / matrix / resize / sampling family to their newest forms.
/// </summary>
[OnnxUpgrades]
public static class NnUpgrades
{
    public static void Register(UpgradeRegistry r)
    {
        // Gemm-6 and older: 'broadcast' allowed C to broadcast; since Gemm-7 it always may.
        r.Add("Gemm", 7, ctx => ctx.Take("broadcast"));

        // Upsample (deprecated in opset 10) and Resize-10 are Resize with the coordinate mapping they
        // always used: x_in = x_out / scale, nearest taking the floor (numpy repeat for integer scales).
        r.Add("Upsample", int.MaxValue, UpsampleToResize);
        r.Add("Resize", 11, ctx =>
        {
            ctx.SetInput(2, ctx.Input(1));
            ctx.SetInput(1, null);
            SetLegacyCoordinates(ctx);
        });

        // LpPool-1 had a float exponent.
        r.Add("LpPool", 2, ctx =>
        {
            if (ctx.Take("p") is not { } p) return;
            float value = p.Kind == AttributeKind.Float ? p.AsFloat() : p.AsInt();
            if (value != MathF.Round(value) || value < 1) throw ctx.Error($"p = {value} is not a positive integer");
            ctx.Attributes["p"] = AttributeValue.Int((long)value);
        });

        // RoiAlign-10 did not shift coordinates by half a pixel (the mode opset 16 calls output_half_pixel).
        r.Add("RoiAlign", 16, ctx => ctx.Attributes["coordinate_transformation_mode"] = AttributeValue.String("output_half_pixel"));

        // GridSample-16 named the modes bilinear and bicubic.
        r.Add("GridSample", 20, ctx =>
        {
            if (ctx.Take("mode") is not { } mode) return; // the default, bilinear, is linear
            ctx.Attributes["mode"] = AttributeValue.String(mode.AsString() switch { "bilinear" => "linear", "bicubic" => "cubic", var m => m });
        });
    }

    private static void UpsampleToResize(NodeUpgradeContext ctx)
    {
        string mode = ctx.Take("mode")?.AsString() ?? "nearest";
        Value? scales = ctx.Input(1);
        if (ctx.Take("scales") is { } attribute)
        {
            var values = attribute.AsFloats();
            scales = ctx.Constant(TensorData.FromFloats([values.Length], values), "scales");
        }
        else if (ctx.Take("height_scale") is { } h && ctx.Take("width_scale") is { } w)
            scales = ctx.Constant(TensorData.FromFloats([4], [1, 1, h.AsFloat(), w.AsFloat()]), "scales");
        if (scales is null) throw ctx.Error("has no scales");
        while (ctx.Inputs.Count > 1) ctx.Inputs.RemoveAt(ctx.Inputs.Count - 1);
        ctx.SetInput(2, scales);
        ctx.OpType = "Resize";
        ctx.Attributes["mode"] = AttributeValue.String(mode == "bilinear" ? "linear" : mode);
        SetLegacyCoordinates(ctx);
    }

    private static void SetLegacyCoordinates(NodeUpgradeContext ctx)
    {
        ctx.Attributes["coordinate_transformation_mode"] = AttributeValue.String("asymmetric");
        ctx.Attributes["nearest_mode"] = AttributeValue.String("floor");
    }
}
