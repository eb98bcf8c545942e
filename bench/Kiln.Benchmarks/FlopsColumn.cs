using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Kiln.Benchmarks;

/// <summary>Benchmarks that know how many floating-point operations one invocation does, from its parameters.</summary>
public interface IHasFlops
{
    double Flops { get; }
}

/// <summary>A GFLOP/s column: the case's flops (from a fresh instance with its parameters set) over the mean time.</summary>
public sealed class FlopsColumn : IColumn
{
    public string Id => "GFLOPs";
    public string ColumnName => "GFLOP/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Floating-point operations per second (10^9)";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        var stats = summary[benchmarkCase]?.ResultStatistics;
        if (stats is null || Activator.CreateInstance(benchmarkCase.Descriptor.Type) is not IHasFlops instance) return "-";
        foreach (var p in benchmarkCase.Parameters.Items)
            benchmarkCase.Descriptor.Type.GetProperty(p.Name)?.SetValue(instance, p.Value);
        return (instance.Flops / stats.Mean).ToString("F1");
    }
}

/// <summary>The configuration of Kiln's benchmarks: the default job plus the GFLOP/s column.</summary>
public sealed class FlopsConfig : ManualConfig
{
    public FlopsConfig() => AddColumn(new FlopsColumn());
}
