using MtlPrune.Pruning;
using MtlPrune.Tasks;

namespace MtlPrune.Compare;

/// <summary>Mean, sample standard deviation, minimum and maximum of a value over seeds.</summary>
public sealed record Stat(double Mean, double Sd, double Min, double Max, int N)
{
    public static Stat Of(IEnumerable<double> values)
    {
        var v = values.Where(double.IsFinite).ToList();
        if (v.Count == 0) return new Stat(double.NaN, double.NaN, double.NaN, double.NaN, 0);
        double m = v.Average();
        double sd = v.Count > 1 ? Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / (v.Count - 1)) : 0;
        return new Stat(m, sd, v.Min(), v.Max(), v.Count);
    }
}

/// <summary>One row of the comparison: a method (label) at one sparsity, over its seeds.</summary>
public sealed record CompareRow(string Label, double Sparsity, int Runs, int Failed,
    IReadOnlyDictionary<string, Stat> Metrics, IReadOnlyDictionary<string, Stat> TaskDeltaT, Stat DeltaT, Stat DeltaTMean,
    IReadOnlyDictionary<string, Stat> ComponentSparsity, Stat AchievedSparsity, Stat Steps, Stat Seconds, Stat? ShareOfDenseTraining, string? ChosenFusions);

/// <summary>
/// The sweep's outcomes gathered into rows per method and sparsity, with the dense model's metrics. With CUT's fusion on
/// <c>auto</c>, a <c>cut (auto)</c> row holds, per seed, the fusion whose final model had the best validation ΔT.
/// </summary>
public sealed record CompareSummary(IReadOnlyList<CompareOutcome> Outcomes, IReadOnlyList<CompareRow> Rows, MetricSet? Dense,
    IReadOnlyDictionary<string, IReadOnlyList<MetricInfo>> MetricInfo, IReadOnlyList<string> Tasks, IReadOnlyList<string> Components, int? DenseTrainingSteps)
{
    public static CompareSummary From(IReadOnlyList<CompareOutcome> outcomes)
    {
        var ok = outcomes.Where(o => o.Report is not null).ToList();
        var first = ok.FirstOrDefault()?.Report;
        var tasks = first?.KeptTasks.ToList() ?? new List<string>();
        var components = ok.SelectMany(o => o.Report!.Sparsity.Components.Select(c => c.Name)).Distinct().ToList();
        var rows = new List<CompareRow>();
        foreach (var g in outcomes.GroupBy(o => (o.Run.Label, o.Run.Sparsity)))
            rows.Add(Row(g.Key.Label, g.Key.Sparsity, g.ToList(), null));
        foreach (var g in outcomes.Where(o => o.Run.Label.StartsWith("cut-")).GroupBy(o => o.Run.Sparsity))
        {
            var chosen = g.Where(o => o.Report is not null).GroupBy(o => o.Run.Seed)
                .Select(s => s.OrderByDescending(o => o.Report!.ValidationDeltaT.SumPerTask.Overall).First()).ToList();
            if (chosen.Count > 0) rows.Add(Row("cut (auto)", g.Key, chosen, string.Join(",", chosen.Select(c => c.Run.Label["cut-".Length..]))));
        }
        var order = outcomes.Select(o => o.Run.Label).Distinct().ToList();
        rows = rows.OrderBy(r => r.Sparsity).ThenBy(r => r.Label == "cut (auto)" ? order.FindIndex(l => l.StartsWith("cut-")) - 0.5 : order.IndexOf(r.Label)).ToList();
        return new CompareSummary(outcomes, rows, first?.Dense, first?.MetricInfo ?? new Dictionary<string, IReadOnlyList<MetricInfo>>(), tasks, components,
            first?.Compute.DenseTrainingSteps);
    }

    private static CompareRow Row(string label, double sparsity, List<CompareOutcome> runs, string? chosen)
    {
        var reports = runs.Where(o => o.Report is not null).Select(o => o.Report!).ToList();
        var metricNames = reports.SelectMany(r => r.Finetuned.Metrics.SelectMany(t => t.Value.Keys.Select(m => $"{t.Key}/{m}"))).Distinct();
        Stat M(string name) => Stat.Of(reports.Select(r => r.Finetuned.Metrics.TryGetValue(name.Split('/')[0], out var t) && t.TryGetValue(name.Split('/')[1], out var v) ? v : double.NaN));
        return new CompareRow(label, sparsity, runs.Count, runs.Count - reports.Count,
            metricNames.ToDictionary(n => n, M),
            reports.SelectMany(r => r.FinetunedDeltaT.SumPerTask.PerTask.Keys).Distinct().ToDictionary(t => t, t => Stat.Of(reports.Select(r => r.FinetunedDeltaT.SumPerTask.PerTask[t]))),
            Stat.Of(reports.Select(r => r.FinetunedDeltaT.SumPerTask.Overall)), Stat.Of(reports.Select(r => r.FinetunedDeltaT.MeanPerTask.Overall)),
            reports.SelectMany(r => r.Sparsity.Components.Select(c => c.Name)).Distinct()
                .ToDictionary(c => c, c => Stat.Of(reports.Select(r => r.Sparsity.Components.FirstOrDefault(x => x.Name == c)?.Sparsity ?? double.NaN))),
            Stat.Of(reports.Select(r => r.Sparsity.Selected.Sparsity)), Stat.Of(reports.Select(r => (double)r.Compute.Total)), Stat.Of(reports.Select(r => r.Seconds.Total)),
            reports.All(r => r.Compute.ShareOfDenseTraining is not null) && reports.Count > 0 ? Stat.Of(reports.Select(r => r.Compute.ShareOfDenseTraining!.Value)) : null,
            chosen);
    }
}
