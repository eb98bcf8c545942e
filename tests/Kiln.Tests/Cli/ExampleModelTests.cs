using Kiln.Cli;
using Kiln.Ir;

namespace Kiln.Tests.Cli;

/// <summary>The example that ships with the repository is exactly what its generator builds.</summary>
public class ExampleModelTests
{
    private static string RepoFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Kiln.slnx"))) return Path.Combine(dir.FullName, relative);
        throw new InvalidOperationException("repository root not found");
    }

    [Fact]
    public void ShippedModelAndInputMatchTheGenerator()
    {
        Assert.Equal(ExampleModel.Build(), File.ReadAllBytes(RepoFile("examples/tiny-cnn/model.onnx")));
        Assert.True(ExampleModel.Input().BitwiseEquals(Npy.Read(RepoFile("examples/tiny-cnn/image.npy"))));
    }
}
