using MtlPrune.Training;
using Spectre.Console;

namespace MtlPrune.Cli;

/// <summary>A per-task metrics table (higher- and lower-is-better marked).</summary>
internal static class MetricsTable
{
    public static Table Build(Evaluation ev, string title)
    {
        var t = new Table().Title(Markup.Escape(title)).AddColumn("task").AddColumn("metric").AddColumn("value").AddColumn("better");
        foreach (var (task, metrics) in ev.Metrics)
        {
            foreach (var info in ev.MetricInfo[task])
                t.AddRow(Markup.Escape(task), Markup.Escape(info.Name), metrics[info.Name].ToString("G5"), info.HigherIsBetter ? "higher" : "lower");
            t.AddRow(Markup.Escape(task), "loss", ev.Losses[task].ToString("G5"), "lower");
        }
        return t;
    }
}
