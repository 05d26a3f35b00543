using System.CommandLine;
using System.Globalization;
using MtlPrune.Training;
using Spectre.Console;

namespace MtlPrune.Cli;

/// <summary><c>mtlprune train</c>: dense multi-task training from flags or a YAML/JSON config.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config") { Description = "YAML or JSON file with the settings (flags given as well override it)." };
        var model = new Option<string?>("--model") { Description = "resnet-mini (default), deeplab-resnet34 or mobilenetv2." };
        var data = new Option<string?>("--data") { Description = "Data set: " + string.Join(", ", Data.DataSets.Names) + "." };
        var root = new Option<string?>("--data-root") { Description = "Root directory of a real data set." };
        var tasks = new Option<string?>("--tasks") { Description = "Comma-separated tasks, e.g. seg,depth,normal." };
        var size = new Option<int?>("--size") { Description = "Image size of the built-in scenes (square) and of Taskonomy (resized)." };
        var trainCount = new Option<int?>("--train-count") { Description = "Training images (scenes)." };
        var valCount = new Option<int?>("--val-count") { Description = "Validation images (scenes)." };
        var iterations = new Option<int?>("--iterations") { Description = "Training steps." };
        var batch = new Option<int?>("--batch") { Description = "Batch size." };
        var optimizer = new Option<string?>("--optimizer") { Description = "sgd, adam or adamw." };
        var lr = new Option<double?>("--lr") { Description = "Learning rate." };
        var wd = new Option<double?>("--weight-decay") { Description = "Weight decay." };
        var schedule = new Option<string?>("--schedule") { Description = "none, step, multistep or cosine." };
        var seed = new Option<ulong?>("--seed") { Description = "Seed for data, model and augmentation." };
        var evalEvery = new Option<int?>("--eval-every") { Description = "Validate every N steps." };
        var output = new Option<string?>("--output") { Description = "Output directory (checkpoints, logs)." };
        var classes = new Option<int?>("--classes") { Description = "Cityscapes segmentation classes: 7 or 19." };
        var weights = new Option<string?>("--loss-weights") { Description = "Per-task loss weights, e.g. seg=1,normal=20,depth=3." };
        var widths = new Option<string?>("--widths") { Description = "Stage widths override, e.g. 8,16,32,64." };
        var blocks = new Option<string?>("--blocks") { Description = "Blocks per stage override, e.g. 1,1,1,1." };
        var head = new Option<string?>("--head") { Description = "Dense head type override: light or aspp." };
        var headWidth = new Option<int?>("--head-width") { Description = "Head width override." };
        var resume = new Option<bool>("--resume") { Description = "Continue from <output>/last.safetensors." };
        var bn = new Option<string?>("--bn") { Description = "Batch norm while training: train (batch statistics; default) or frozen (running statistics fixed)." };
        var noAug = new Option<bool>("--no-augment") { Description = "Disable scale/crop/flip augmentation." };
        var skipBad = new Option<bool>("--skip-bad-samples") { Description = "Log a damaged sample of a real data set (its index and file) and use the next one, instead of stopping." };
        var cmd = new Command("train", "Train a multi-task model densely; keeps the best checkpoint by validation ΔT.")
            { config, model, data, root, tasks, size, trainCount, valCount, iterations, batch, optimizer, lr, wd, schedule, seed, evalEvery, output, resume, noAug, skipBad, weights, widths, blocks, head, headWidth, classes, bn };
        cmd.SetAction(p =>
        {
            var c = p.GetValue(config) is string path ? TrainConfig.Load(path) : new TrainConfig();
            if (p.GetValue(model) is string m) c.Model = m;
            if (p.GetValue(data) is string d) c.Data = d;
            if (p.GetValue(root) is string r) c.DataRoot = r;
            if (p.GetValue(tasks) is string t) c.Tasks = t.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (p.GetValue(size) is int s) c.Size = s;
            if (p.GetValue(trainCount) is int tc) c.TrainCount = tc;
            if (p.GetValue(valCount) is int vc) c.ValCount = vc;
            if (p.GetValue(iterations) is int it) c.Iterations = it;
            if (p.GetValue(batch) is int b) c.Batch = b;
            if (p.GetValue(optimizer) is string o) c.Optimizer = o;
            if (p.GetValue(lr) is double l) c.Lr = l;
            if (p.GetValue(wd) is double w) c.WeightDecay = w;
            if (p.GetValue(schedule) is string sc) c.Schedule = sc;
            if (p.GetValue(seed) is ulong sd) c.Seed = sd;
            if (p.GetValue(evalEvery) is int ee) c.EvalEvery = ee;
            if (p.GetValue(output) is string op) c.Output = op;
            if (p.GetValue(noAug)) c.Augment = false;
            if (p.GetValue(skipBad)) c.SkipBadSamples = true;
            if (p.GetValue(bn) is string bnMode) c.BatchNorm = bnMode;
            if (p.GetValue(classes) is int k) c.Classes = k;
            if (p.GetValue(weights) is string ws)
                foreach (var (task, weight) in CliParsing.LossWeights(ws)) c.LossWeights[task] = weight;
            if (p.GetValue(widths) is string wd2) c.Widths = CliParsing.Ints(wd2, "--widths");
            if (p.GetValue(blocks) is string bl) c.Blocks = CliParsing.Ints(bl, "--blocks");
            if (p.GetValue(head) is string hd) c.Head = hd;
            if (p.GetValue(headWidth) is int hwv) c.HeadWidth = hwv;
            ConsoleUi.Line($"training [bold]{Markup.Escape(c.Model)}[/] on [bold]{Markup.Escape(c.Data)}[/] ({string.Join(", ", c.Tasks)}), {c.Iterations} steps of batch {c.Batch}, output {Markup.Escape(c.Output)}");
            var result = ConsoleUi.Run(progress => new Trainer(c).Run(p.GetValue(resume),
                pr => progress("training", pr.Step, pr.Iterations, string.Join(" ", pr.Losses.Select(kv => $"{kv.Key} {kv.Value:F3}")) + $" lr {pr.Lr:G3}"),
                (step, ev, dt) => ConsoleUi.Line($"[grey]step {step}: validation ΔT {dt.Overall:+0.00;-0.00}% " +
                    Markup.Escape(string.Join("; ", ev.Metrics.Select(t => t.Key + " " + string.Join(" ", t.Value.Select(m => $"{m.Key} {m.Value:G4}"))))) + "[/]")));
            AnsiConsole.Write(MetricsTable.Build(result.BestEvaluation, $"best checkpoint (step {result.BestStep}), validation"));
            AnsiConsole.MarkupLine($"best: {Markup.Escape(result.BestCheckpoint)}   last: {Markup.Escape(result.LastCheckpoint)}   time {result.Elapsed.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture)} s");
            return 0;
        });
        return cmd;
    }
}
