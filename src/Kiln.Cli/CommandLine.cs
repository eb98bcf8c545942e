using System.CommandLine;
using Kiln.Ir;

namespace Kiln.Cli;

/// <summary>Shared plumbing: error reporting (one clear line, non-zero exit) and argument parsing helpers.</summary>
internal static class CommandLine
{
    public static int Invoke(RootCommand root, string[] args)
    {
        var parse = root.Parse(args);
        try
        {
            return parse.Invoke();
        }
        catch (KilnException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    /// <summary>Wraps a command body: Kiln errors print one line and give exit code 1.</summary>
    public static Func<ParseResult, int> Guard(Func<ParseResult, int> body) => parse =>
    {
        try
        {
            return body(parse);
        }
        catch (KilnException e)
        {
            Console.Error.WriteLine($"error: {OneLine(e.Message)}");
            return 1;
        }
    };

    private static string OneLine(string s) => s.Replace('\n', ' ').Replace('\r', ' ');

    /// <summary>Parses "NAME=@file.npy" (the '@' is optional).</summary>
    public static (string Name, string Path) ParseInputSpec(string spec)
    {
        int eq = spec.LastIndexOf('=');
        if (eq <= 0 || eq == spec.Length - 1)
            throw new KilnException(ErrorCode.InvalidArgument, $"--input '{spec}' must look like NAME=@file.npy");
        string path = spec[(eq + 1)..];
        if (path.StartsWith('@')) path = path[1..];
        return (spec[..eq], path);
    }

    /// <summary>Parses "NAME=1x3x640x640".</summary>
    public static (string Name, long[] Dims) ParseShapeSpec(string spec)
    {
        int eq = spec.LastIndexOf('=');
        if (eq <= 0) throw new KilnException(ErrorCode.InvalidArgument, $"--shape '{spec}' must look like NAME=1x3x224x224");
        var parts = spec[(eq + 1)..].Split('x');
        var dims = new long[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!long.TryParse(parts[i], out dims[i]) || dims[i] < 0)
                throw new KilnException(ErrorCode.InvalidArgument, $"--shape '{spec}': '{parts[i]}' is not a size");
        return (spec[..eq], dims);
    }

    /// <summary>A short summary of a value: dtype, shape, the first few elements.</summary>
    public static string Describe(DataValue v) => v switch
    {
        TensorData t => t.ToString(),
        SequenceData s => $"sequence of {s.Items.Count}: [{string.Join(", ", s.Items.Take(3).Select(Describe))}{(s.Items.Count > 3 ? ", ..." : "")}]",
        OptionalData o => o.Value is null ? "optional: none" : $"optional: {Describe(o.Value)}",
        _ => v.Type.ToString(),
    };
}
