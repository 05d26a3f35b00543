using System.CommandLine;
using MtlPrune.Pruning;
using Spectre.Console;

namespace MtlPrune.Cli;

/// <summary><c>mtlprune prune</c>: prune a multi-task checkpoint for the chosen tasks, fine-tune, evaluate and report.</summary>
internal static class PruneCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "The dense multi-task checkpoint (written by `mtlprune train`, or imported).", Required = true };
        var method = new Option<string>("--method") { Description = "cut (default), adapmtl, disparse-static, disparse-pt, disparse-dynamic, snip, lth, imp, magnitude or random.", DefaultValueFactory = _ => "cut" };
        var tasks = new Option<string>("--tasks") { Description = "Comma-separated tasks to keep, e.g. seg,depth; the other heads are dropped.", Required = true };
        var sparsity = new Option<double>("--sparsity") { Description = "Target sparsity over the selected weights, in (0, 1), e.g. 0.9.", Required = true };
        var output = new Option<string>("--out") { Description = "Output directory: pruned.safetensors, report.md, report.json, finetune/.", Required = true };
        var seed = new Option<ulong>("--seed") { Description = "Seed of calibration sampling, random masks, fresh initialisations and fine-tuning.", DefaultValueFactory = _ => 0 };
        var dryRun = new Option<bool>("--dry-run") { Description = "List the weights the selection matches, with counts, and stop." };
        var force = new Option<bool>("--force") { Description = "Replace a different run already in --out." };
        var shared = new PruneCliOptions("vote");
        var cmd = new Command("prune", "Prune a multi-task checkpoint for the tasks you keep: masks by the chosen method at the target sparsity, fine-tuning with the masks enforced, metrics before and after, and a report.")
        {
            checkpoint, method, tasks, sparsity, output, seed, dryRun, force,
        };
        shared.AddTo(cmd);
        cmd.SetAction(p =>
        {
            var options = shared.Options(p, p.GetValue(checkpoint)!, CliParsing.List(p.GetValue(tasks)), p.GetValue(sparsity), p.GetValue(output)!, p.GetValue(seed));
            var m = PruningMethods.Create(p.GetValue(method)!, shared.Settings(p));
            return Execute(options, m, p.GetValue(dryRun), p.GetValue(force));
        });
        return cmd;
    }

    /// <summary>Runs (or dry-runs) a pruning job with progress and prints the report's tables.</summary>
    public static int Execute(PruneOptions options, IPruningMethod method, bool dryRun, bool force)
    {
        if (dryRun)
        {
            PruneTables.WriteDryRun(new PruneJob(options, method).DryRun());
            return 0;
        }
        ConsoleUi.Line(Markup.Escape($"pruning {options.Checkpoint} with {method.Name} to {options.Sparsity:P1} sparsity, keeping {string.Join(", ", options.Tasks)}; output {options.Output}"));
        var report = ConsoleUi.Run(progress => new PruneJob(options, method)
        {
            Log = msg => ConsoleUi.Line(Markup.Escape(msg)),
            Progress = (phase, done, total, detail) => progress(phase, done, total, detail),
        }.Run(force));
        PruneTables.Write(report);
        ConsoleUi.Line(Markup.Escape($"wrote {report.OutputCheckpoint}, {Path.Combine(options.Output, "report.md")} and report.json"));
        return 0;
    }

}
