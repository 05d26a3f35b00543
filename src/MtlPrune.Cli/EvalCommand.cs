using System.CommandLine;
using System.Text.Json;
using MtlPrune.Data;
using MtlPrune.Engine.IO;
using MtlPrune.Training;
using Spectre.Console;

namespace MtlPrune.Cli;

/// <summary><c>mtlprune eval</c>: per-task metrics of a checkpoint on a data split.</summary>
internal static class EvalCommand
{
    /// <summary>One line about a pruned checkpoint, from its <c>mtlprune.pruning</c> metadata.</summary>
    private static string PruningSummary(string json)
    {
        try
        {
            var r = JsonDocument.Parse(json).RootElement;
            var a = r.GetProperty("achievedSparsity");
            return $"pruned checkpoint: {r.GetProperty("method").GetString()}, tasks {string.Join(",", r.GetProperty("tasks").EnumerateArray().Select(t => t.GetString()))}, " +
                $"sparsity {a.GetProperty("selected").GetDouble():P2} over the pruned weights ({a.GetProperty("allParameters").GetDouble():P2} over all parameters), " +
                $"from {r.GetProperty("source").GetProperty("checkpoint").GetString()}";
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException) { return "pruned checkpoint (its pruning metadata is unreadable)"; }
    }

    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "A checkpoint written by `mtlprune train`.", Required = true };
        var data = new Option<string>("--data") { Description = "Data set: " + string.Join(", ", DataSets.Names) + ".", DefaultValueFactory = _ => "scenes" };
        var root = new Option<string?>("--data-root") { Description = "Root directory of a real data set." };
        var classes = new Option<int>("--classes") { Description = "Cityscapes segmentation classes (7 or 19).", DefaultValueFactory = _ => 19 };
        var split = new Option<string>("--split") { Description = "train, val or test.", DefaultValueFactory = _ => "test" };
        var size = new Option<int>("--size") { Description = "Resolution of the built-in scenes.", DefaultValueFactory = _ => 64 };
        var count = new Option<int>("--count") { Description = "Images of generated data (scenes, multi-mnist); for real data with --split val, the validation size.", DefaultValueFactory = _ => 200 };
        var seed = new Option<ulong>("--seed") { Description = "Data seed (scenes).", DefaultValueFactory = _ => 0 };
        var json = new Option<string?>("--json") { Description = "Also write the metrics as JSON to this file." };
        var baselineOpt = new Option<string?>("--baseline") { Description = "A baseline checkpoint (e.g. the dense model): report ΔT of --checkpoint against it on the same data." };
        var trivial = new Option<bool>("--trivial") { Description = "Also evaluate the trivial predictors (majority class, mean depth, mean normal) fitted on the training split." };
        var skipBad = new Option<bool>("--skip-bad-samples") { Description = "Log a damaged sample of a real data set (its index and file) and evaluate its neighbour in its place, instead of stopping." };
        var cmd = new Command("eval", "Evaluate a checkpoint: per-task metrics table, optionally JSON.") { checkpoint, data, root, classes, split, size, count, seed, json, trivial, baselineOpt, skipBad };
        cmd.SetAction(p =>
        {
            var (model, meta) = Checkpoint.Load(p.GetValue(checkpoint)!);
            if (meta.TryGetValue("mtlprune.pruning", out var pruning)) ConsoleUi.Line(Markup.Escape(PruningSummary(pruning)));
            var sp = p.GetValue(split) switch
            {
                "train" => Split.Train, "val" or "validation" => Split.Validation, "test" => Split.Test,
                var s => throw new ArgumentException($"--split must be train, val or test, got '{s}'."),
            };
            var ds = DataSets.Open(p.GetValue(data)!, p.GetValue(root), sp, p.GetValue(count), p.GetValue(count), p.GetValue(size), p.GetValue(seed),
                model.Tasks.Select(t => t.Name), p.GetValue(classes), p.GetValue(skipBad));
            var ev = ConsoleUi.Run(progress => Evaluator.Evaluate(model, ds, progress: (done, all) => progress($"evaluating on {ds.Name}", done, all)));
            AnsiConsole.Write(MetricsTable.Build(ev, $"{ds.Name} ({ds.Count} images)"));
            Evaluation? baseline = null;
            if (p.GetValue(trivial) && ds is ScenesDataset sd)
            {
                var train = new ScenesDataset(Split.Train, 500, sd.Height, sd.Width, p.GetValue(seed), model.Tasks.Select(t => t.Name));
                baseline = TrivialBaseline.Evaluate(train, ds, model.Tasks);
                AnsiConsole.Write(MetricsTable.Build(baseline, "trivial predictors (majority class, mean depth, mean normal)"));
            }
            object? delta = null;
            if (p.GetValue(baselineOpt) is string bpath)
            {
                var (bmodel, _) = Checkpoint.Load(bpath);
                var bev = Evaluator.Evaluate(bmodel, ds);
                var sum = Tasks.DeltaT.Compute(ev.Metrics, bev.Metrics, ev.MetricInfo, Tasks.DeltaTMode.SumPerTask);
                var mean = Tasks.DeltaT.Compute(ev.Metrics, bev.Metrics, ev.MetricInfo, Tasks.DeltaTMode.MeanPerTask);
                var dtTable = new Table().Title(Markup.Escape($"ΔT against {bpath} (%)")).AddColumn("task").AddColumn("sum over metrics (AdapMTL)").AddColumn("mean over metrics (LibMTL)");
                foreach (var task in sum.PerTask.Keys) dtTable.AddRow(Markup.Escape(task), $"{sum.PerTask[task]:+0.00;-0.00}", $"{mean.PerTask[task]:+0.00;-0.00}");
                dtTable.AddRow("[bold]overall[/]", $"{sum.Overall:+0.00;-0.00}", $"{mean.Overall:+0.00;-0.00}");
                AnsiConsole.Write(dtTable);
                delta = new { baseline = bpath, sumPerTask = sum, meanPerTask = mean, baselineMetrics = bev.Metrics };
            }
            if (p.GetValue(json) is string path)
            {
                AtomicFile.WriteAllText(path, JsonSerializer.Serialize(new { checkpoint = p.GetValue(checkpoint), data = ds.Name, count = ds.Count, metrics = ev.Metrics, losses = ev.Losses, trivial = baseline?.Metrics, deltaT = delta },
                    new JsonSerializerOptions { WriteIndented = true }));
                AnsiConsole.MarkupLine($"wrote {Markup.Escape(path)}");
            }
            return 0;
        });
        return cmd;
    }
}
