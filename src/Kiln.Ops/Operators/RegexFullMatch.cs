using System.Text.RegularExpressions;
using Kiln.Ir;
using Kiln.Runtime.Text;

namespace Kiln.Ops.Operators;

/// <summary>
/// RegexFullMatch(X): whether each string matches 'pattern' as a whole. ONNX specifies RE2
/// syntax; the pattern is translated to .NET and run with the non-backtracking engine, which,
/// like RE2, takes linear time (so a hostile pattern cannot hang a model). The translation lives in
/// the runtime (<see cref="Re2Translation"/>), shared with the compiled path's "str" module.
/// </summary>
[OpFamily]
public static class RegexOps
{
    public static void Register(OpRegistry r) => r.Add(new RegexFullMatchDefinition());

    private sealed class RegexFullMatchDefinition : OpDefinition
    {
        public override string OpType => "RegexFullMatch";

        public override void InferTypes(InferenceContext ctx)
        {
            Strings.RequireStrings(ctx, 0);
            Compile(ctx.Op);
            ctx.SetOutput(0, ElementType.Bool, ctx.InputShape(0));
        }

        public override void Evaluate(EvaluationContext ctx)
        {
            var x = ctx.Tensor(0);
            if (x.ElementType != ElementType.String) throw ctx.Error($"the input must be a string tensor, got {x.Type}");
            var regex = Compile(ctx.Op);
            ctx.SetOutput(0, Elementwise.Map<string, bool>(x, ElementType.Bool, regex.IsMatch));
        }

        private static Regex Compile(Operation op)
        {
            string pattern = op.GetString("pattern");
            try
            {
                return Re2Translation.FullMatch(pattern);
            }
            catch (ArgumentException e)
            {
                throw new KilnException(ErrorCode.InvalidModel, $"{op.Describe()}: invalid pattern \"{pattern}\": {e.Message}");
            }
        }
    }
}
