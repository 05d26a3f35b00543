using System.CommandLine;
using MtlPrune.Pruning;
using MtlPrune.Pruning.Methods;
using Spectre.Console;

namespace MtlPrune.Cli;

/// <summary>
/// <c>mtlprune demo</c>: the main job end to end on the committed dense model (resnet-mini trained on the built-in scenes
/// for seg, depth and normal): keep seg and depth, prune with CUT to 90% sparsity, fine-tune, evaluate and report.
/// </summary>
internal static class DemoCommand
{
    /// <summary>The committed dense checkpoint, copied beside the executable.</summary>
    public static string DefaultCheckpoint => Path.Combine(AppContext.BaseDirectory, "models", "resnet-mini-scenes64.safetensors");

    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "Output directory.", DefaultValueFactory = _ => Path.Combine("runs", "demo-cut") };
        var checkpoint = new Option<string>("--checkpoint") { Description = "The dense checkpoint (default: the committed demo model).", DefaultValueFactory = _ => DefaultCheckpoint };
        var force = new Option<bool>("--force") { Description = "Replace a different run already in --out." };
        var cmd = new Command("demo", "Prune the committed demo model with CUT: keep seg and depth of its three tasks, 90% sparsity (or fusion), 1000 fine-tuning steps (lr 2e-4, batch-norm statistics frozen), evaluate on 200 test scenes, report.")
            { output, checkpoint, force };
        cmd.SetAction(p =>
        {
            var options = Options(p.GetValue(checkpoint)!, p.GetValue(output)!);
            ConsoleUi.Line(Markup.Escape("demo: the dense model predicts seg, depth and normals of the built-in 64x64 scenes; an edge device needs only seg and depth."));
            return PruneCommand.Execute(options, Method(), dryRun: false, force: p.GetValue(force));
        });
        return cmd;
    }

    /// <summary>
    /// The demo's settings; the README's table comes from them. Fine-tuning departs from the reference defaults in two
    /// measured ways (README, "Fine-tuning a pruned model"): batch-norm statistics frozen, and lr 2e-4 — the reference's
    /// ratio of fine-tune to base learning rate (1e-5 / 1e-4) applied to this model's base rate of 2e-3.
    /// </summary>
    public static PruneOptions Options(string checkpoint, string output) => new()
    {
        Checkpoint = checkpoint, Tasks = new[] { "seg", "depth" }, Sparsity = 0.9, Output = output,
        FinetuneIterations = 1000, EvalEvery = 100, Lr = 2e-4, BatchNorm = "frozen",
    };

    public static IPruningMethod Method() => new Cut(new CutOptions { Fusion = Fusion.Or });
}
