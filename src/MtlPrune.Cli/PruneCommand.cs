using System.CommandLine;
using MtlPrune.Pruning;
using MtlPrune.Pruning.Methods;
using Spectre.Console;

namespace MtlPrune.Cli;

/// <summary><c>mtlprune prune</c>: prune a multi-task checkpoint for the chosen tasks, fine-tune, evaluate and report.</summary>
internal static class PruneCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "The dense multi-task checkpoint (written by `mtlprune train`).", Required = true };
        var method = new Option<string>("--method") { Description = "cut (default), adapmtl, disparse-static, disparse-pt, disparse-dynamic, snip, lth, imp, magnitude or random.", DefaultValueFactory = _ => "cut" };
        var tasks = new Option<string>("--tasks") { Description = "Comma-separated tasks to keep, e.g. seg,depth; the other heads are dropped.", Required = true };
        var sparsity = new Option<double>("--sparsity") { Description = "Target sparsity over the selected weights, in (0, 1), e.g. 0.9.", Required = true };
        var output = new Option<string>("--out") { Description = "Output directory: pruned.safetensors, report.md, report.json, finetune/.", Required = true };
        var fusion = new Option<string>("--fusion") { Description = "CUT (and DiSparse, whose default is or) backbone fusion: or | and | vote[:tau]. Default vote, tau = floor(K/2)+1 for K kept tasks: what the CUT reference code runs for 2-3 tasks (it hard-codes tau = 2; for 2 tasks vote is and). The paper recommends or for up to 5 tasks.", DefaultValueFactory = _ => "vote" };
        var keepRatio = new Option<double?>("--keep-ratio") { Description = "CUT: a fixed per-task keep ratio instead of solving for --sparsity (the reference code's calibrated values: NYUv2 0.08 at 90%, 0.257 at 70%, 0.46 at 50%)." };
        var calib = new Option<int>("--calib-batches") { Description = "CUT: calibration batches from the training split (reference: 50).", DefaultValueFactory = _ => 50 };
        var scoreMode = new Option<string>("--score-mode") { Description = "CUT: train (reference: batch statistics, dropout on) or eval.", DefaultValueFactory = _ => "train" };
        var trainIters = new Option<int?>("--train-iters") { Description = "Methods that train (adapmtl): training steps (default: the dense model's own training length)." };
        var thresholdInit = new Option<double?>("--threshold-init") { Description = "adapmtl: initial threshold parameter s for every component (default: chosen so the thresholds reach the target after about 60% of training; the reference uses -30.5, its README -20, for 20,000 steps)." };
        var thresholdDecay = new Option<double?>("--threshold-decay") { Description = "adapmtl: weight decay of the thresholds alone, the force that raises them (default: the weights' decay, as in the reference)." };
        var shared = new Option<bool>("--shared-threshold") { Description = "adapmtl: one threshold for all components (the paper's ablation 'without adaptive thresholds')." };
        var noAdaptive = new Option<bool>("--no-adaptive-weights") { Description = "adapmtl: fixed loss weights instead of adaptive task weighting." };
        var fromScratch = new Option<bool>("--from-scratch") { Description = "adapmtl: start from a fresh initialisation instead of the checkpoint's weights." };
        var scope = new Option<string>("--scope") { Description = "magnitude: global (one ranking over all layers) or layer (the same sparsity in each layer).", DefaultValueFactory = _ => "global" };
        var snipVariant = new Option<string>("--snip-variant") { Description = "snip: joint (multi-task loss over --calib-batches, train mode, as the CUT code) or single (one batch, eval mode, as the paper).", DefaultValueFactory = _ => "joint" };
        var impRate = new Option<double>("--imp-rate") { Description = "imp: fraction of the remaining weights each round removes (then --finetune-iters steps).", DefaultValueFactory = _ => 0.5 };
        var rewind = new Option<string>("--rewind") { Description = "lth: rewind the survivors to init (the dense model's initialisation) or to step k of its training.", DefaultValueFactory = _ => "init" };
        var budget = new Option<double>("--budget") { Description = "Scale every iteration count (fine-tune and method training), e.g. 0.1 for a quick look.", DefaultValueFactory = _ => 1.0 };
        var iters = new Option<int>("--finetune-iters") { Description = "Fine-tuning steps (reference: 1000 on NYUv2 and Cityscapes, 200 on Taskonomy); 0 skips fine-tuning.", DefaultValueFactory = _ => 1000 };
        var optimizer = new Option<string>("--optimizer") { Description = "Fine-tuning optimizer: adam (reference), adamw or sgd.", DefaultValueFactory = _ => "adam" };
        var lr = new Option<double>("--lr") { Description = "Fine-tuning learning rate (reference: 1e-5; 1e-6 on Taskonomy).", DefaultValueFactory = _ => 1e-5 };
        var wd = new Option<double>("--weight-decay") { Description = "Fine-tuning weight decay (reference: 1e-4 NYUv2, 5e-4 Cityscapes and Taskonomy).", DefaultValueFactory = _ => 1e-4 };
        var schedule = new Option<string>("--schedule") { Description = "Fine-tuning schedule: step (reference), multistep, cosine or none.", DefaultValueFactory = _ => "step" };
        var stepSize = new Option<int>("--step-size") { Description = "StepLR period (reference: 1000; 100 on Taskonomy).", DefaultValueFactory = _ => 1000 };
        var gamma = new Option<double>("--gamma") { Description = "StepLR factor (reference: 0.7; 0.5 on Taskonomy).", DefaultValueFactory = _ => 0.7 };
        var evalEvery = new Option<int>("--eval-every") { Description = "Validate every N fine-tuning steps (reference: 50).", DefaultValueFactory = _ => 50 };
        var bn = new Option<string>("--bn") { Description = "Batch norm during fine-tuning: train (reference: batch statistics, running statistics updated) or frozen (the dense model's running statistics kept).", DefaultValueFactory = _ => "train" };
        var batch = new Option<int?>("--batch") { Description = "Batch size of calibration and fine-tuning (default: the source training's)." };
        var weights = new Option<string?>("--loss-weights") { Description = "Fine-tuning loss weights, e.g. seg=1,depth=3 (default: the source training's)." };
        var seed = new Option<ulong>("--seed") { Description = "Seed of calibration sampling, random masks and fine-tuning.", DefaultValueFactory = _ => 0 };
        var data = new Option<string?>("--data") { Description = "Data set (default: the one the checkpoint was trained on)." };
        var root = new Option<string?>("--data-root") { Description = "Root directory of a real data set (default: the checkpoint's)." };
        var size = new Option<int?>("--size") { Description = "Image size of scenes and Taskonomy (default: the checkpoint's)." };
        var trainCount = new Option<int?>("--train-count") { Description = "Training images of generated data (default: the checkpoint's)." };
        var valCount = new Option<int?>("--val-count") { Description = "Validation images (default: the checkpoint's)." };
        var testCount = new Option<int>("--test-count") { Description = "Test images of generated data (scenes, multi-mnist).", DefaultValueFactory = _ => 200 };
        var classes = new Option<int?>("--classes") { Description = "Cityscapes segmentation classes (7 or 19)." };
        var roles = new Option<string?>("--roles") { Description = "Prune only these parts: backbone, heads, head:<task> (comma-separated; default all)." };
        var types = new Option<string?>("--layer-types") { Description = "Prune only these layer types: conv, pointwise, depthwise, linear (default all)." };
        var include = new Option<string?>("--include") { Description = "Prune only weights matching these name globs, e.g. 'backbone.layer4.**' (* within a name part, ** across parts)." };
        var exclude = new Option<string?>("--exclude") { Description = "Never prune weights matching these name globs, e.g. backbone.conv1." };
        var dryRun = new Option<bool>("--dry-run") { Description = "List the weights the selection matches, with counts, and stop." };
        var force = new Option<bool>("--force") { Description = "Replace a different run already in --out." };
        var cmd = new Command("prune", "Prune a multi-task checkpoint for the tasks you keep: masks by the chosen method at the target sparsity, fine-tuning with the masks enforced, metrics before and after, and a report.")
        {
            checkpoint, method, tasks, sparsity, output, fusion, keepRatio, calib, scoreMode, trainIters, thresholdInit, thresholdDecay, shared, noAdaptive, fromScratch, scope, snipVariant, impRate, rewind, budget, iters, optimizer, lr, wd, schedule, stepSize, gamma, evalEvery,
            bn, batch, weights, seed, data, root, size, trainCount, valCount, testCount, classes, roles, types, include, exclude, dryRun, force,
        };
        cmd.SetAction(p =>
        {
            var options = new PruneOptions
            {
                Checkpoint = p.GetValue(checkpoint)!, Tasks = CliParsing.List(p.GetValue(tasks)), Sparsity = p.GetValue(sparsity), Output = p.GetValue(output)!,
                Selection = new PruningSelection
                {
                    Roles = CliParsing.List(p.GetValue(roles)), Include = CliParsing.List(p.GetValue(include)), Exclude = CliParsing.List(p.GetValue(exclude)),
                    Types = p.GetValue(types) is string ts ? CliParsing.List(ts).Select(PruningSelection.ParseType).ToList() : PruningSelection.Default.Types,
                },
                Seed = p.GetValue(seed), FinetuneIterations = p.GetValue(iters), Optimizer = CliParsing.Choice(p.GetValue(optimizer)!, "--optimizer", "adam", "adamw", "sgd"),
                Lr = p.GetValue(lr), WeightDecay = p.GetValue(wd), Schedule = CliParsing.Choice(p.GetValue(schedule)!, "--schedule", "step", "multistep", "cosine", "none"),
                StepSize = p.GetValue(stepSize), Gamma = p.GetValue(gamma), EvalEvery = p.GetValue(evalEvery), Batch = p.GetValue(batch),
                BatchNorm = CliParsing.Choice(p.GetValue(bn)!, "--bn", "train", "frozen"),
                LossWeights = p.GetValue(weights) is string w ? CliParsing.LossWeights(w) : null, Data = p.GetValue(data), DataRoot = p.GetValue(root),
                Size = p.GetValue(size), TrainCount = p.GetValue(trainCount), ValCount = p.GetValue(valCount), TestCount = p.GetValue(testCount),
                Classes = p.GetValue(classes), Budget = p.GetValue(budget),
            };
            var m = PruningMethods.Create(p.GetValue(method)!, new MethodSettings
            {
                Fusion = p.GetValue(fusion)!, KeepRatio = p.GetValue(keepRatio), CalibrationBatches = p.GetValue(calib),
                ScoreInTrainMode = CliParsing.Choice(p.GetValue(scoreMode)!, "--score-mode", "train", "eval") == "train",
                TrainIterations = p.GetValue(trainIters), ThresholdInit = p.GetValue(thresholdInit), ThresholdDecay = p.GetValue(thresholdDecay), SharedThreshold = p.GetValue(shared),
                AdaptiveWeights = !p.GetValue(noAdaptive), FromScratch = p.GetValue(fromScratch), Scope = p.GetValue(scope)!,
                SnipVariant = p.GetValue(snipVariant)!, ImpRate = p.GetValue(impRate), Rewind = p.GetValue(rewind)!,
            });
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
