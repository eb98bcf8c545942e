namespace Kiln.Tests;

/// <summary>
/// Where the shared test data lives: $KILN_SHARED, else a folder named "shared" beside the
/// repository (found by walking up from the test assembly). Tests that need it skip, with a
/// message saying so, when it is absent.
/// </summary>
public static class SharedData
{
    public static string? Root { get; } = Find();

    public const string MissingMessage = "shared test data not found: set KILN_SHARED or place 'shared' beside the repository";

    public static string? OnnxBackend => Root is null ? null : Path.Combine(Root, "onnx-backend");
    public static string? Models => Root is null ? null : Path.Combine(Root, "models");

    private static string? Find()
    {
        var env = Environment.GetEnvironmentVariable("KILN_SHARED");
        if (!string.IsNullOrEmpty(env)) return Directory.Exists(env) ? Path.GetFullPath(env) : null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Kiln.slnx")))
            {
                var candidate = Path.Combine(dir.Parent?.FullName ?? dir.FullName, "shared");
                return Directory.Exists(candidate) ? candidate : null;
            }
        }
        return null;
    }
}
