using System.Globalization;
using System.Text;
using System.Text.Json;
using MtlPrune.Engine.IO;
using MtlPrune.Pruning;

namespace MtlPrune.Compare;

/// <summary>Writes a <see cref="CompareSummary"/> as Markdown tables, CSV (every number) and JSON.</summary>
public static class CompareWriters
{
    private static readonly CultureInfo Ci = CultureInfo.InvariantCulture;

    /// <summary>Writes <c>compare.md</c>, <c>compare.csv</c> and <c>compare.json</c> into <paramref name="dir"/>.</summary>
    public static void WriteAll(CompareSummary s, string dir, string budgetNote)
    {
        AtomicFile.WriteAllText(Path.Combine(dir, "compare.md"), Markdown(s, budgetNote));
        AtomicFile.WriteAllText(Path.Combine(dir, "compare.csv"), Csv(s));
        AtomicFile.WriteAllText(Path.Combine(dir, "compare.json"), JsonSerializer.Serialize(new
        {
            dense = s.Dense, rows = s.Rows,
            runs = s.Outcomes.Select(o => new { o.Run.Label, o.Run.Method, o.Run.Sparsity, o.Run.Seed, o.Run.Directory, o.Error, o.Reused }),
        }, PruneJob.ReportJson));
    }

    /// <summary>A row's name, with the fusions auto chose, failures, and its seed count when it has fewer than the fullest row.</summary>
    public static string RowLabel(CompareRow r, CompareSummary s)
    {
        int most = s.Rows.Count == 0 ? 0 : s.Rows.Max(x => x.DeltaT.N);
        return r.Label + (r.ChosenFusions is null ? "" : $" ({r.ChosenFusions})") + (r.Failed > 0 ? $" ({r.Failed} failed)" : "")
            + (r.DeltaT.N < most ? $" ({r.DeltaT.N} of {most} seeds)" : "");
    }

    private static string Pm(Stat st, string format) => st.N == 0 ? "—" : st.N > 1 ? $"{st.Mean.ToString(format, Ci)} ± {st.Sd.ToString(format, Ci)}" : st.Mean.ToString(format, Ci);

    /// <summary>Per sparsity, AdapMTL's Table 2 layout: each task's metrics and ΔT, per-component sparsity, overall ΔT; then the compute each method spent.</summary>
    public static string Markdown(CompareSummary s, string budgetNote)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Method comparison").AppendLine();
        sb.AppendLine($"Metrics on the test split, after each method's fine-tuning or training; model selection on the validation split. Mean ± standard deviation over seeds. ΔT in % against the dense model (AdapMTL's convention: sum over a task's metrics, mean over tasks). {budgetNote}").AppendLine();
        foreach (var level in s.Rows.GroupBy(r => r.Sparsity))
        {
            sb.AppendLine($"## {(level.Key * 100).ToString("0.#", Ci)}% sparsity").AppendLine();
            var header = new List<string> { "method" };
            var align = new List<string> { "---" };
            foreach (var t in s.Tasks)
            {
                foreach (var m in s.MetricInfo[t]) { header.Add($"{t} {m.Name} {(m.HigherIsBetter ? "↑" : "↓")}"); align.Add("---"); }
                header.Add($"ΔT {t}"); align.Add("---");
            }
            foreach (var c in s.Components) { header.Add($"sparsity {c}"); align.Add("---"); }
            header.Add("sparsity overall"); align.Add("---");
            header.Add("**ΔT**"); align.Add("---");
            sb.AppendLine("| " + string.Join(" | ", header) + " |").AppendLine("| " + string.Join(" | ", align) + " |");
            if (s.Dense is { } dense)
            {
                var cells = new List<string> { "dense" };
                foreach (var t in s.Tasks) { foreach (var m in s.MetricInfo[t]) cells.Add(dense.Metrics[t][m.Name].ToString("G4", Ci)); cells.Add("0"); }
                foreach (var _ in s.Components) cells.Add("–");
                cells.Add("–"); cells.Add("0");
                sb.AppendLine("| " + string.Join(" | ", cells) + " |");
            }
            foreach (var r in level)
            {
                var cells = new List<string> { RowLabel(r, s) };
                foreach (var t in s.Tasks)
                {
                    foreach (var m in s.MetricInfo[t]) cells.Add(r.Metrics.TryGetValue($"{t}/{m.Name}", out var st) ? Pm(st, "G4") : "—");
                    cells.Add(r.TaskDeltaT.TryGetValue(t, out var d) ? Pm(d, "+0.00;-0.00") : "—");
                }
                foreach (var c in s.Components) cells.Add(r.ComponentSparsity.TryGetValue(c, out var cs) ? (cs.Mean * 100).ToString("F2", Ci) : "—");
                cells.Add((r.AchievedSparsity.Mean * 100).ToString("F2", Ci));
                cells.Add("**" + Pm(r.DeltaT, "+0.00;-0.00") + "**");
                sb.AppendLine("| " + string.Join(" | ", cells) + " |");
            }
            sb.AppendLine();
        }
        sb.AppendLine("## Compute").AppendLine();
        sb.AppendLine("Batches through the network (scoring passes + the method's own training steps + fine-tuning steps) and wall time on this machine, mean over sparsities and seeds" +
            (s.DenseTrainingSteps is int d0 ? $"; the dense model itself trained for {d0} steps." : ".")).AppendLine();
        sb.AppendLine("| method | batches | share of the dense training | wall time (s) | ΔT at each sparsity |").AppendLine("|---|---|---|---|---|");
        foreach (var g in s.Rows.GroupBy(r => r.Label))
        {
            var steps = Stat.Of(g.Select(r => r.Steps.Mean)); var secs = Stat.Of(g.Select(r => r.Seconds.Mean));
            var share = g.All(r => r.ShareOfDenseTraining is not null) ? Stat.Of(g.Select(r => r.ShareOfDenseTraining!.Mean)).Mean.ToString("P1", Ci) : "—";
            sb.AppendLine($"| {g.Key} | {steps.Mean.ToString("F0", Ci)} | {share} | {secs.Mean.ToString("F0", Ci)} | {string.Join(" / ", g.Select(r => r.DeltaT.Mean.ToString("+0.0;-0.0", Ci)))} |");
        }
        return sb.ToString();
    }

    /// <summary>Every number, one per line: <c>label,method,sparsity,seed,kind,name,value</c>.</summary>
    public static string Csv(CompareSummary s)
    {
        var sb = new StringBuilder("label,method,sparsity,seed,kind,name,value\n");
        void Add(CompareOutcome o, string kind, string name, double v) =>
            sb.Append(Ci, $"{o.Run.Label},{o.Run.Method},{o.Run.Sparsity},{o.Run.Seed},{kind},{name},{v.ToString("R", Ci)}\n");
        foreach (var o in s.Outcomes.Where(o => o.Report is not null))
        {
            var r = o.Report!;
            foreach (var (t, ms) in r.Finetuned.Metrics) foreach (var (m, v) in ms) Add(o, "metric", $"{t}/{m}", v);
            foreach (var (t, v) in r.FinetunedDeltaT.SumPerTask.PerTask) Add(o, "deltaT", t, v);
            Add(o, "deltaT", "overall", r.FinetunedDeltaT.SumPerTask.Overall);
            Add(o, "deltaT-libmtl", "overall", r.FinetunedDeltaT.MeanPerTask.Overall);
            Add(o, "deltaT-validation", "overall", r.ValidationDeltaT.SumPerTask.Overall);
            foreach (var c in r.Sparsity.Components) Add(o, "sparsity", c.Name, c.Sparsity);
            Add(o, "sparsity", "selected", r.Sparsity.Selected.Sparsity);
            Add(o, "sparsity", "all-parameters", r.Sparsity.AllParameters.Sparsity);
            Add(o, "macs", "nonzero", r.Sparsity.ConvLinear.NonzeroMacs);
            Add(o, "compute", "batches", r.Compute.Total);
            Add(o, "compute", "seconds", r.Seconds.Total);
        }
        return sb.ToString();
    }
}
