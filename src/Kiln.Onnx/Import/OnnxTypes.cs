using Kiln.Ir;
using Kiln.Onnx.Proto;

namespace Kiln.Onnx;

/// <summary>Conversion of ONNX TypeProto to IR types (and back, for writing test data).</summary>
public static class OnnxTypes
{
    /// <summary>The IR type of a TypeProto; null when the proto carries no type (allowed for some subgraph values).</summary>
    public static IrType? Read(TypeProto? t, string what)
    {
        if (t is null) return null;
        switch (t.ValueCase)
        {
            case TypeProto.ValueOneofCase.TensorType:
            case TypeProto.ValueOneofCase.SparseTensorType:
            {
                int code = t.ValueCase == TypeProto.ValueOneofCase.TensorType ? t.TensorType.ElemType : t.SparseTensorType.ElemType;
                var shapeProto = t.ValueCase == TypeProto.ValueOneofCase.TensorType ? t.TensorType.Shape : t.SparseTensorType.Shape;
                var et = code == 0 ? ElementType.Undefined : ElementTypes.IsDefined(code) ? (ElementType)code
                    : throw new KilnException(ErrorCode.InvalidModel, $"{what} has unknown element type code {code}");
                return new TensorType(et, ReadShape(shapeProto, what));
            }
            case TypeProto.ValueOneofCase.SequenceType:
                return new SequenceType(Read(t.SequenceType.ElemType, what) ?? new TensorType(ElementType.Undefined, Shape.Unranked));
            case TypeProto.ValueOneofCase.OptionalType:
                return new OptionalType(Read(t.OptionalType.ElemType, what) ?? new TensorType(ElementType.Undefined, Shape.Unranked));
            case TypeProto.ValueOneofCase.MapType:
                throw new KilnException(ErrorCode.Unsupported, $"{what} is a map; map values are not supported");
            case TypeProto.ValueOneofCase.None:
                return null;
            default:
                throw new KilnException(ErrorCode.Unsupported, $"{what} has an unsupported type kind {t.ValueCase}");
        }
    }

    private static Shape ReadShape(TensorShapeProto? s, string what)
    {
        if (s is null) return Shape.Unranked;
        var dims = new Dim[s.Dim.Count];
        for (int i = 0; i < dims.Length; i++)
        {
            var d = s.Dim[i];
            dims[i] = d.ValueCase switch
            {
                TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue when d.DimValue >= 0 => d.DimValue,
                TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue =>
                    throw new KilnException(ErrorCode.InvalidModel, $"{what} has negative dimension {d.DimValue}"),
                TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam when d.DimParam.Length > 0 => Dim.Symbol(d.DimParam),
                _ => Dim.Unknown(),
            };
        }
        return new Shape(dims);
    }

    public static TypeProto Write(IrType type)
    {
        switch (type)
        {
            case TensorType t:
                var tp = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)t.ElementType } };
                if (t.Shape.IsRanked)
                {
                    tp.TensorType.Shape = new TensorShapeProto();
                    foreach (var d in t.Shape)
                        tp.TensorType.Shape.Dim.Add(d.IsKnown ? new TensorShapeProto.Types.Dimension { DimValue = d.Value }
                            : d.Expression is DimExpr.Sym s ? new TensorShapeProto.Types.Dimension { DimParam = s.Name }
                            : new TensorShapeProto.Types.Dimension());
                }
                return tp;
            case SequenceType s:
                return new TypeProto { SequenceType = new TypeProto.Types.Sequence { ElemType = Write(s.ElementType) } };
            case OptionalType o:
                return new TypeProto { OptionalType = new TypeProto.Types.Optional { ElemType = Write(o.ElementType) } };
            default:
                throw new ArgumentException($"cannot write type {type}");
        }
    }
}
