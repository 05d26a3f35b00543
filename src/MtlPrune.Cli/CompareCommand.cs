using System.CommandLine;
using System.Globalization;
using MtlPrune.Compare;
using MtlPrune.Engine.IO;
using MtlPrune.Models;
using MtlPrune.Pruning;
using MtlPrune.Training;
using Spectre.Console;

namespace MtlPrune.Cli;

/// <summary><c>mtlprune compare</c>: every method at every sparsity and seed on one checkpoint, with tables and plots.</summary>
internal static class CompareCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "The dense multi-task checkpoint.", Required = true };
        var methods = new Option<string>("--methods") { Description = "Comma-separated methods (default all): " + string.Join(",", PruningMethods.Names) + ".", DefaultValueFactory = _ => string.Join(",", PruningMethods.Names) };
        var sparsity = new Option<string>("--sparsity") { Description = "Comma-separated target sparsities.", DefaultValueFactory = _ => "0.5,0.7,0.9" };
        var tasks = new Option<string?>("--tasks") { Description = "Tasks to keep (default: all of the checkpoint's)." };
        var seeds = new Option<int>("--seeds") { Description = "Seeds per combination (0, 1, ...).", DefaultValueFactory = _ => 1 };
        var output = new Option<string>("--out") { Description = "Sweep directory: runs/<method>-s<sparsity>-seed<k>-<hash>/, compare.md, compare.csv, compare.json, plots.", Required = true };
        var reportOnly = new Option<bool>("--report-only") { Description = "Run nothing: write the tables and plots from the runs of this plan that have finished (another process may still be running the rest). Rows with fewer seeds than the fullest say so." };
        var shared = new PruneCliOptions("auto");
        var cmd = new Command("compare", "Run every method at every sparsity and seed on one checkpoint and data, resumably, and write the comparison table (AdapMTL's Table 2 layout), CSV, JSON and SVG plots. --fusion auto runs CUT with or, and and vote and keeps the best on the validation split.")
        {
            checkpoint, methods, sparsity, tasks, seeds, output, reportOnly,
        };
        shared.AddTo(cmd);
        cmd.SetAction(p =>
        {
            var ckpt = p.GetValue(checkpoint)!;
            var meta = SafeTensors.Read(ckpt).Metadata;
            var taskList = p.GetValue(tasks) is string t ? CliParsing.List(t)
                : meta.TryGetValue(Checkpoint.ModelKey, out var json) ? ModelSpec.FromJson(json, ckpt).Tasks.Select(x => x.Name).ToList()
                : throw new ModelFormatException(ckpt, "not an MtlPrune multi-task checkpoint.");
            var levels = CliParsing.List(p.GetValue(sparsity)).Select(x => double.TryParse(x, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v
                : throw new ArgumentException($"--sparsity: '{x}' is not a number.")).ToList();
            var root = p.GetValue(output)!;
            var options = new MtlPrune.Compare.CompareOptions
            {
                Template = shared.Options(p, ckpt, taskList, levels.FirstOrDefault(0.5), root, 0), Settings = shared.Settings(p) with { Fusion = p.GetValue(shared.Fusion) == "auto" ? "vote" : p.GetValue(shared.Fusion)! },
                Methods = CliParsing.List(p.GetValue(methods)), Sparsities = levels, Seeds = p.GetValue(seeds), Fusion = p.GetValue(shared.Fusion)!,
            };
            var sweep = new CompareSweep(options) { Log = msg => ConsoleUi.Line(Markup.Escape(msg)) };
            int planned = sweep.Plan().Count;
            ConsoleUi.Line(Markup.Escape($"comparing {options.Methods.Count} methods at {string.Join(", ", levels.Select(l => l.ToString("P0", CultureInfo.InvariantCulture)))} with {options.Seeds} seed(s): {planned} runs in {root}"));
            Directory.CreateDirectory(root);
            var outcomes = ConsoleUi.Run(progress => new CompareSweep(options)
            {
                Log = msg => ConsoleUi.Line(Markup.Escape(msg)),
                Progress = (phase, done, total, detail) => progress(phase.StartsWith("compare") ? "runs" : phase, done, total, detail),
            }.Run(p.GetValue(reportOnly)));
            if (outcomes.Count == 0) throw new ArgumentException($"compare --report-only: none of the {planned} planned run(s) in {root} has finished.");
            var summary = CompareSummary.From(outcomes);
            string budgetNote = options.Template.Budget == 1 ? "Full budget." : $"Budget ×{options.Template.Budget.ToString("G3", CultureInfo.InvariantCulture)}: every iteration count scaled.";
            CompareWriters.WriteAll(summary, root, budgetNote);
            var plots = ComparePlots.WriteAll(summary, root);
            foreach (var level in summary.Rows.GroupBy(r => r.Sparsity))
            {
                var table = new Table().Title(Markup.Escape($"{level.Key:P0} sparsity (test split; mean ± sd over seeds)")).AddColumns("method", "ΔT %");
                foreach (var task in summary.Tasks) table.AddColumn($"ΔT {task}");
                table.AddColumns("sparsity", "batches", "seconds");
                foreach (var r in level)
                {
                    var cells = new List<string> { Markup.Escape(CompareWriters.RowLabel(r, summary)), Pm(r.DeltaT) };
                    cells.AddRange(summary.Tasks.Select(x => r.TaskDeltaT.TryGetValue(x, out var st) ? Pm(st) : "—"));
                    cells.AddRange(new[] { (r.AchievedSparsity.Mean * 100).ToString("F2", CultureInfo.InvariantCulture), r.Steps.Mean.ToString("F0", CultureInfo.InvariantCulture), r.Seconds.Mean.ToString("F0", CultureInfo.InvariantCulture) });
                    table.AddRow(cells.ToArray());
                }
                AnsiConsole.Write(table);
            }
            int reused = outcomes.Count(o => o.Reused), failed = outcomes.Count(o => o.Error is not null);
            string pending = planned > outcomes.Count ? $", {planned - outcomes.Count} not finished yet (left out)" : "";
            ConsoleUi.Line(Markup.Escape($"{outcomes.Count} runs: {outcomes.Count - reused - failed} ran, {reused} reused from earlier, {failed} failed{pending}. Wrote compare.md, compare.csv, compare.json and {string.Join(", ", plots)} in {root}"));
            return failed > 0 ? 1 : 0;
        });
        return cmd;
    }

    private static string Pm(Stat s) => s.N == 0 ? "—" : s.N > 1
        ? $"{s.Mean.ToString("+0.0;-0.0", CultureInfo.InvariantCulture)} ± {s.Sd.ToString("0.0", CultureInfo.InvariantCulture)}"
        : s.Mean.ToString("+0.0;-0.0", CultureInfo.InvariantCulture);
}
