using System.Globalization;
using System.Text;

namespace MtlPrune.Pruning;

/// <summary>Renders a <see cref="PruneReport"/> as Markdown (<c>report.md</c>).</summary>
public static class PruneReportMarkdown
{
    public static string Render(PruneReport r)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        var s = r.Sparsity;
        sb.AppendLine($"# {r.Method.ToUpperInvariant()} pruning report").AppendLine();
        sb.AppendLine($"- Source: `{r.SourceCheckpoint}` ({r.Model}; tasks {string.Join(", ", r.SourceTasks)}; sha256 {r.SourceSha256[..12]}…)");
        sb.AppendLine($"- Kept tasks: {string.Join(", ", r.KeptTasks)}; output `{r.OutputCheckpoint}`");
        sb.AppendLine($"- Method: {r.Method} ({string.Join(", ", r.MethodOptions.Select(kv => $"{kv.Key} {Fmt(kv.Value)}"))}); seed {r.Seed}");
        if (r.MethodDetails.Count > 0)
            sb.AppendLine($"- Method details: {string.Join(", ", r.MethodDetails.Where(kv => kv.Value is not System.Collections.IDictionary).Select(kv => $"{kv.Key} {Fmt(kv.Value)}"))}");
        sb.AppendLine($"- Selection: {r.Selection}");
        sb.AppendLine(string.Create(ci, $"- Sparsity: requested {r.RequestedSparsity:P2}, achieved {s.Selected.Sparsity:P2} over the {s.Selected.Numel:N0} selected weights; " +
            $"{s.ConvLinear.Sparsity:P2} over all conv/linear weights of the backbone and kept heads (the papers' convention); {s.AllParameters.Sparsity:P2} over every parameter ({s.AllParameters.Numel:N0})"));
        sb.AppendLine(string.Create(ci, $"- MACs per image ({string.Join("×", r.InputShape)}): {s.ConvLinear.DenseMacs:N0} dense, {s.ConvLinear.NonzeroMacs:N0} nonzero ({s.ConvLinear.MacReduction:F1}× fewer)"));
        sb.AppendLine($"- Data: {r.Data} (train {r.TrainCount}, validation {r.ValCount}, test {r.TestCount}); model selection on validation, numbers below on test");
        var f = r.Finetune;
        sb.AppendLine(r.FinetuneSteps == 0 ? "- Fine-tune: none" : string.Create(ci,
            $"- Fine-tune: {f.Optimizer} lr {f.Lr:G3}, weight decay {f.WeightDecay:G3}, schedule {f.Schedule}{(f.Schedule == "step" ? $" {f.StepSize}/{f.Gamma}" : "")}, {r.FinetuneSteps} steps of batch {f.Batch}, " +
            $"loss weights {string.Join(", ", r.KeptTasks.Select(t => $"{t} {(f.LossWeights.TryGetValue(t, out var w) ? w : 1):G3}"))}; best at step {r.BestStep} by validation ΔT"));
        var cs = r.Compute;
        sb.AppendLine($"- Compute (batches through the network): {cs.ScoringPasses} scoring passes + {cs.MethodTrainingSteps} steps of the method's own training + {cs.FinetuneSteps} fine-tuning steps = {cs.Total}" +
            (cs.ShareOfDenseTraining is double share ? string.Create(ci, $", {share:P1} of the dense model's {cs.DenseTrainingSteps} training steps") : "") +
            (cs.Budget != 1 ? string.Create(ci, $" (budget ×{cs.Budget:G3})") : ""));
        sb.AppendLine();
        sb.AppendLine($"## Metrics on the test split ({r.TestCount} images)").AppendLine();
        sb.AppendLine("| task | metric | better | dense | pruned | fine-tuned |").AppendLine("|---|---|---|---|---|---|");
        foreach (var task in r.KeptTasks)
        {
            foreach (var m in r.MetricInfo[task])
                sb.AppendLine($"| {task} | {m.Name} | {(m.HigherIsBetter ? "higher" : "lower")} | {V(r.Dense, task, m.Name)} | {V(r.Pruned, task, m.Name)} | {V(r.Finetuned, task, m.Name)} |");
            sb.AppendLine(string.Create(ci, $"| {task} | ΔT (%) | higher | 0 | {r.PrunedDeltaT.SumPerTask.PerTask[task]:+0.00;-0.00} | {r.FinetunedDeltaT.SumPerTask.PerTask[task]:+0.00;-0.00} |"));
        }
        sb.AppendLine(string.Create(ci, $"| **all** | **ΔT (%)**, AdapMTL: sum over a task's metrics | higher | 0 | **{r.PrunedDeltaT.SumPerTask.Overall:+0.00;-0.00}** | **{r.FinetunedDeltaT.SumPerTask.Overall:+0.00;-0.00}** |"));
        sb.AppendLine(string.Create(ci, $"| all | ΔT (%), LibMTL: mean over a task's metrics | higher | 0 | {r.PrunedDeltaT.MeanPerTask.Overall:+0.00;-0.00} | {r.FinetunedDeltaT.MeanPerTask.Overall:+0.00;-0.00} |"));
        sb.AppendLine();
        sb.AppendLine("## Sparsity per component").AppendLine();
        sb.AppendLine("| component | weights | nonzero | sparsity | dense MACs | nonzero MACs | MAC reduction |").AppendLine("|---|---|---|---|---|---|---|");
        foreach (var c in s.Components.Append(s.ConvLinear))
            sb.AppendLine(string.Create(ci, $"| {c.Name} | {c.Numel:N0} | {c.Nonzero:N0} | {c.Sparsity:P2} | {c.DenseMacs:N0} | {c.NonzeroMacs:N0} | {c.MacReduction:F1}× |"));
        sb.AppendLine();
        sb.AppendLine("## Time (seconds, this machine)").AppendLine();
        var t = r.Seconds;
        sb.AppendLine("| load data and model | dense evaluation | scoring | method (masks, own training) | fine-tuning | evaluation | total |").AppendLine("|---|---|---|---|---|---|---|");
        sb.AppendLine(string.Create(ci, $"| {t.Load:F1} | {t.DenseEvaluation:F1} | {t.Scoring:F1} | {t.Method:F1} | {t.Finetune:F1} | {t.Evaluation:F1} | {t.Total:F1} |"));
        sb.AppendLine();
        sb.AppendLine("## Layers").AppendLine();
        sb.AppendLine("| weight | component | type | shape | weights | sparsity | dense MACs | nonzero MACs | pruned |").AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var l in s.Layers)
            sb.AppendLine(string.Create(ci, $"| {l.Name} | {l.Component} | {l.Type} | {string.Join("×", l.Shape)} | {l.Numel:N0} | {l.Sparsity:P1} | {l.DenseMacs:N0} | {l.NonzeroMacs:N0} | {(l.Selected ? "yes" : "no")} |"));
        return sb.ToString();

        string V(MetricSet m, string task, string metric) => m.Metrics[task][metric].ToString("G4", ci);
    }

    private static string Fmt(object? v) => v switch
    {
        null => "none",
        double d => d.ToString("G4", CultureInfo.InvariantCulture),
        float x => x.ToString("G4", CultureInfo.InvariantCulture),
        System.Collections.IEnumerable e and not string => string.Join("/", e.Cast<object>()),
        _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "",
    };
}
