using System.Globalization;
using MtlPrune.Pruning;
using Spectre.Console;

namespace MtlPrune.Cli;

/// <summary>A pruning report as tables on screen.</summary>
internal static class PruneTables
{
    public static void Write(PruneReport r)
    {
        var ci = CultureInfo.InvariantCulture;
        var m = new Table().Title(Markup.Escape($"test split ({r.TestCount} images): dense → pruned ({r.Sparsity.Selected.Sparsity:P1} sparse) → fine-tuned"))
            .AddColumns("task", "metric", "better", "dense", "pruned", "fine-tuned");
        foreach (var task in r.KeptTasks)
        {
            foreach (var info in r.MetricInfo[task])
                m.AddRow(Markup.Escape(task), Markup.Escape(info.Name), info.HigherIsBetter ? "higher" : "lower",
                    r.Dense.Metrics[task][info.Name].ToString("G4", ci), r.Pruned.Metrics[task][info.Name].ToString("G4", ci), r.Finetuned.Metrics[task][info.Name].ToString("G4", ci));
            m.AddRow(Markup.Escape(task), "ΔT %", "higher", "0", Pct(r.PrunedDeltaT.SumPerTask.PerTask[task]), Pct(r.FinetunedDeltaT.SumPerTask.PerTask[task]));
        }
        m.AddRow("[bold]all[/]", "[bold]ΔT %[/] (AdapMTL)", "higher", "0", Pct(r.PrunedDeltaT.SumPerTask.Overall), Pct(r.FinetunedDeltaT.SumPerTask.Overall));
        m.AddRow("all", "ΔT % (LibMTL)", "higher", "0", Pct(r.PrunedDeltaT.MeanPerTask.Overall), Pct(r.FinetunedDeltaT.MeanPerTask.Overall));
        AnsiConsole.Write(m);
        var s = new Table().Title("sparsity and MACs per image").AddColumns("component", "weights", "nonzero", "sparsity", "dense MACs", "nonzero MACs", "reduction");
        foreach (var c in r.Sparsity.Components.Append(r.Sparsity.ConvLinear))
            s.AddRow(Markup.Escape(c.Name), c.Numel.ToString("N0", ci), c.Nonzero.ToString("N0", ci), c.Sparsity.ToString("P2", ci),
                c.DenseMacs.ToString("N0", ci), c.NonzeroMacs.ToString("N0", ci), c.MacReduction.ToString("F1", ci) + "x");
        s.AddRow("all parameters", r.Sparsity.AllParameters.Numel.ToString("N0", ci), r.Sparsity.AllParameters.Nonzero.ToString("N0", ci),
            r.Sparsity.AllParameters.Sparsity.ToString("P2", ci), "", "", "");
        AnsiConsole.Write(s);
        var t = r.Seconds;
        ConsoleUi.Line(Markup.Escape(string.Create(ci,
            $"sparsity requested {r.RequestedSparsity:P2}, achieved {r.Sparsity.Selected.Sparsity:P2} over the selected weights; " +
            $"time: scoring {t.Scoring:F1} s, fine-tuning {t.Finetune:F1} s ({r.FinetuneSteps} steps, best at {r.BestStep}), total {t.Total:F1} s")));
        var cs = r.Compute;
        ConsoleUi.Line(Markup.Escape($"compute: {cs.ScoringPasses} scoring passes + {cs.MethodTrainingSteps} method training steps + {cs.FinetuneSteps} fine-tuning steps = {cs.Total} batches" +
            (cs.ShareOfDenseTraining is double share ? string.Create(ci, $" ({share:P1} of the dense training's {cs.DenseTrainingSteps} steps)") : "")));
    }

    /// <summary>The dry run's listing: every selected weight, and totals per component.</summary>
    public static void WriteDryRun(DryRunResult d)
    {
        var ci = CultureInfo.InvariantCulture;
        var t = new Table().Title($"{d.Targets.Count} weights selected for pruning").AddColumns("weight", "component", "type", "shape", "weights", "dense MACs");
        var macs = d.Sparsity.Layers.ToDictionary(l => l.Name, l => l.DenseMacs);
        foreach (var p in d.Targets)
            t.AddRow(Markup.Escape(p.Name), Markup.Escape(p.Component), p.Type.ToString().ToLowerInvariant(), string.Join("x", p.Weight.Shape),
                p.Numel.ToString("N0", ci), macs[p.Name].ToString("N0", ci));
        AnsiConsole.Write(t);
        var c = new Table().Title("totals").AddColumns("component", "selected weights", "of conv/linear weights", "layers");
        foreach (var g in d.Sparsity.Layers.GroupBy(l => l.Component))
            c.AddRow(Markup.Escape(g.Key), g.Where(l => l.Selected).Sum(l => l.Numel).ToString("N0", ci), g.Sum(l => l.Numel).ToString("N0", ci),
                $"{g.Count(l => l.Selected)}/{g.Count()}");
        c.AddRow("[bold]all[/]", d.Sparsity.Selected.Numel.ToString("N0", ci), d.Sparsity.ConvLinear.Numel.ToString("N0", ci),
            $"{d.Sparsity.Layers.Count(l => l.Selected)}/{d.Sparsity.Layers.Count}");
        AnsiConsole.Write(c);
        ConsoleUi.Line(Markup.Escape($"dry run: nothing was scored or written. The model has {d.Sparsity.AllParameters.Numel:N0} parameters with the kept heads."));
    }

    private static string Pct(double v) => v.ToString("+0.00;-0.00;0.00", CultureInfo.InvariantCulture);
}
