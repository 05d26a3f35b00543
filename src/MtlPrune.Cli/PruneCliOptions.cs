using System.CommandLine;
using MtlPrune.Pruning;

namespace MtlPrune.Cli;

/// <summary>
/// The options <c>prune</c> and <c>compare</c> share — method settings, fine-tuning, data and selection — declared once;
/// <see cref="Options"/> and <see cref="Settings"/> turn a parse result into the library's records.
/// </summary>
internal sealed class PruneCliOptions(string defaultFusion)
{
    public readonly Option<string> Fusion = new Option<string>("--fusion") { Description = "CUT (and DiSparse, whose default is or) backbone fusion: or | and | vote[:tau]. Default vote, tau = floor(K/2)+1 for K kept tasks: what the CUT reference code runs for 2-3 tasks (it hard-codes tau = 2; for 2 tasks vote is and). The paper recommends or for up to 5 tasks.", DefaultValueFactory = _ => defaultFusion };
    public readonly Option<double?> KeepRatio = new Option<double?>("--keep-ratio") { Description = "CUT: a fixed per-task keep ratio instead of solving for --sparsity (the reference code's calibrated values: NYUv2 0.08 at 90%, 0.257 at 70%, 0.46 at 50%)." };
    public readonly Option<string> Granularity = new Option<string>("--granularity") { Description = "CUT and magnitude: weight (default: single weights, for sparse kernels) or filter (whole output filters, scores summed per filter, with the same fusion: structured CUT, for hardware without sparse kernels; export with --structured to remove the pruned channels).", DefaultValueFactory = _ => "weight" };
    public readonly Option<int> Calib = new Option<int>("--calib-batches") { Description = "CUT: calibration batches from the training split (reference: 50).", DefaultValueFactory = _ => 50 };
    public readonly Option<string> ScoreMode = new Option<string>("--score-mode") { Description = "CUT: train (reference: batch statistics, dropout on) or eval.", DefaultValueFactory = _ => "train" };
    public readonly Option<int?> TrainIters = new Option<int?>("--train-iters") { Description = "Methods that train (adapmtl): training steps (default: the dense model's own training length)." };
    public readonly Option<double?> ThresholdInit = new Option<double?>("--threshold-init") { Description = "adapmtl: initial threshold parameter s for every component (default: the value that prunes 5% of the weights, nearly dense; the thresholds' own learning rate is then sized to reach the target after about 40% of training. The reference uses -30.5, its README -20, for 20,000 steps on DeepLab)." };
    public readonly Option<double?> ThresholdDecay = new Option<double?>("--threshold-decay") { Description = "adapmtl: weight decay of the thresholds alone, the force that raises them (default: calibrated before training so that it outweighs twice the largest task-loss gradient on a threshold at the target; the reference decays everything with the weights' 1e-4)." };
    public readonly Option<bool> Shared = new Option<bool>("--shared-threshold") { Description = "adapmtl: one threshold for all components (the paper's ablation 'without adaptive thresholds')." };
    public readonly Option<bool> NoAdaptive = new Option<bool>("--no-adaptive-weights") { Description = "adapmtl: fixed loss weights instead of adaptive task weighting." };
    public readonly Option<bool> FromScratch = new Option<bool>("--from-scratch") { Description = "adapmtl: start from a fresh initialisation instead of the checkpoint's weights." };
    public readonly Option<string> Scope = new Option<string>("--scope") { Description = "magnitude: global (one ranking over all layers) or layer (the same sparsity in each layer).", DefaultValueFactory = _ => "global" };
    public readonly Option<string> SnipVariant = new Option<string>("--snip-variant") { Description = "snip: joint (multi-task loss over --calib-batches, train mode, as the CUT code) or single (one batch, eval mode, as the paper).", DefaultValueFactory = _ => "joint" };
    public readonly Option<double> ImpRate = new Option<double>("--imp-rate") { Description = "imp: fraction of the remaining weights each round removes (then --finetune-iters steps).", DefaultValueFactory = _ => 0.5 };
    public readonly Option<string> Rewind = new Option<string>("--rewind") { Description = "lth: rewind the survivors to init (the dense model's initialisation) or to step k of its training.", DefaultValueFactory = _ => "init" };
    public readonly Option<bool> SkipBad = new Option<bool>("--skip-bad-samples") { Description = "Log a damaged sample of a real data set (its index and file) and use the next one, instead of stopping." };
    public readonly Option<double> Budget = new Option<double>("--budget") { Description = "Scale every iteration count (fine-tune and method training), e.g. 0.1 for a quick look.", DefaultValueFactory = _ => 1.0 };
    public readonly Option<int> Iters = new Option<int>("--finetune-iters") { Description = "Fine-tuning steps (reference: 1000 on NYUv2 and Cityscapes, 200 on Taskonomy); 0 skips fine-tuning.", DefaultValueFactory = _ => 1000 };
    public readonly Option<string> Optimizer = new Option<string>("--optimizer") { Description = "Fine-tuning optimizer: adam (reference), adamw or sgd.", DefaultValueFactory = _ => "adam" };
    public readonly Option<double> Lr = new Option<double>("--lr") { Description = "Fine-tuning learning rate (reference: 1e-5; 1e-6 on Taskonomy).", DefaultValueFactory = _ => 1e-5 };
    public readonly Option<double> Wd = new Option<double>("--weight-decay") { Description = "Fine-tuning weight decay (reference: 1e-4 NYUv2, 5e-4 Cityscapes and Taskonomy).", DefaultValueFactory = _ => 1e-4 };
    public readonly Option<string> Schedule = new Option<string>("--schedule") { Description = "Fine-tuning schedule: step (reference), multistep, cosine or none.", DefaultValueFactory = _ => "step" };
    public readonly Option<int> StepSize = new Option<int>("--step-size") { Description = "StepLR period (reference: 1000; 100 on Taskonomy).", DefaultValueFactory = _ => 1000 };
    public readonly Option<double> Gamma = new Option<double>("--gamma") { Description = "StepLR factor (reference: 0.7; 0.5 on Taskonomy).", DefaultValueFactory = _ => 0.7 };
    public readonly Option<int> EvalEvery = new Option<int>("--eval-every") { Description = "Validate every N fine-tuning steps (reference: 50).", DefaultValueFactory = _ => 50 };
    public readonly Option<string> Bn = new Option<string>("--bn") { Description = "Batch norm during fine-tuning: train (reference: batch statistics, running statistics updated) or frozen (the dense model's running statistics kept).", DefaultValueFactory = _ => "train" };
    public readonly Option<int?> Batch = new Option<int?>("--batch") { Description = "Batch size of calibration and fine-tuning (default: the source training's)." };
    public readonly Option<string?> Weights = new Option<string?>("--loss-weights") { Description = "Fine-tuning loss weights, e.g. seg=1,depth=3 (default: the source training's)." };
    public readonly Option<string?> Data = new Option<string?>("--data") { Description = "Data set (default: the one the checkpoint was trained on)." };
    public readonly Option<string?> Root = new Option<string?>("--data-root") { Description = "Root directory of a real data set (default: the checkpoint's)." };
    public readonly Option<int?> Size = new Option<int?>("--size") { Description = "Image size of scenes and Taskonomy (default: the checkpoint's)." };
    public readonly Option<int?> TrainCount = new Option<int?>("--train-count") { Description = "Training images of generated data (default: the checkpoint's)." };
    public readonly Option<int?> ValCount = new Option<int?>("--val-count") { Description = "Validation images (default: the checkpoint's)." };
    public readonly Option<int> TestCount = new Option<int>("--test-count") { Description = "Test images of generated data (scenes, multi-mnist).", DefaultValueFactory = _ => 200 };
    public readonly Option<int?> Classes = new Option<int?>("--classes") { Description = "Cityscapes segmentation classes (7 or 19)." };
    public readonly Option<string?> Roles = new Option<string?>("--roles") { Description = "Prune only these parts: backbone, heads, head:<task> (comma-separated; default all)." };
    public readonly Option<string?> Types = new Option<string?>("--layer-types") { Description = "Prune only these layer types: conv, pointwise, depthwise, linear (default all)." };
    public readonly Option<string?> Include = new Option<string?>("--include") { Description = "Prune only weights matching these name globs, e.g. 'backbone.layer4.**' (* within a name part, ** across parts)." };
    public readonly Option<string?> Exclude = new Option<string?>("--exclude") { Description = "Never prune weights matching these name globs, e.g. backbone.conv1." };

    /// <summary>Adds every shared option to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { Fusion, KeepRatio, Granularity, Calib, ScoreMode, TrainIters, ThresholdInit, ThresholdDecay, Shared, NoAdaptive, FromScratch, Scope, SnipVariant, ImpRate, Rewind, Budget, SkipBad, Iters, Optimizer, Lr, Wd, Schedule, StepSize, Gamma, EvalEvery, Bn, Batch, Weights, Data, Root, Size, TrainCount, ValCount, TestCount, Classes, Roles, Types, Include, Exclude })
            command.Options.Add(o);
    }

    /// <summary>The prune options for one run.</summary>
    public PruneOptions Options(ParseResult p, string checkpoint, IReadOnlyList<string> tasks, double sparsity, string output, ulong seed) => new()
    {
        Checkpoint = checkpoint, Tasks = tasks, Sparsity = sparsity, Output = output, Seed = seed,
        Selection = new PruningSelection
        {
            Roles = CliParsing.List(p.GetValue(Roles)), Include = CliParsing.List(p.GetValue(Include)), Exclude = CliParsing.List(p.GetValue(Exclude)),
            Types = p.GetValue(Types) is string ts ? CliParsing.List(ts).Select(PruningSelection.ParseType).ToList() : PruningSelection.Default.Types,
        },
        FinetuneIterations = p.GetValue(Iters), Optimizer = CliParsing.Choice(p.GetValue(Optimizer)!, "--optimizer", "adam", "adamw", "sgd"),
        Lr = p.GetValue(Lr), WeightDecay = p.GetValue(Wd), Schedule = CliParsing.Choice(p.GetValue(Schedule)!, "--schedule", "step", "multistep", "cosine", "none"),
        StepSize = p.GetValue(StepSize), Gamma = p.GetValue(Gamma), EvalEvery = p.GetValue(EvalEvery), Batch = p.GetValue(Batch),
        BatchNorm = CliParsing.Choice(p.GetValue(Bn)!, "--bn", "train", "frozen"),
        LossWeights = p.GetValue(Weights) is string w ? CliParsing.LossWeights(w) : null, Data = p.GetValue(Data), DataRoot = p.GetValue(Root),
        Size = p.GetValue(Size), TrainCount = p.GetValue(TrainCount), ValCount = p.GetValue(ValCount), TestCount = p.GetValue(TestCount),
        Classes = p.GetValue(Classes), Budget = p.GetValue(Budget), SkipBadSamples = p.GetValue(SkipBad),
    };

    /// <summary>The method settings.</summary>
    public MethodSettings Settings(ParseResult p) => new()
    {
        Fusion = p.GetValue(Fusion)!, KeepRatio = p.GetValue(KeepRatio), CalibrationBatches = p.GetValue(Calib),
        ScoreInTrainMode = CliParsing.Choice(p.GetValue(ScoreMode)!, "--score-mode", "train", "eval") == "train",
        TrainIterations = p.GetValue(TrainIters), ThresholdInit = p.GetValue(ThresholdInit), ThresholdDecay = p.GetValue(ThresholdDecay), SharedThreshold = p.GetValue(Shared),
        AdaptiveWeights = !p.GetValue(NoAdaptive), FromScratch = p.GetValue(FromScratch), Scope = p.GetValue(Scope)!,
        SnipVariant = p.GetValue(SnipVariant)!, ImpRate = p.GetValue(ImpRate), Rewind = p.GetValue(Rewind)!,
        Granularity = CliParsing.Choice(p.GetValue(Granularity)!, "--granularity", "weight", "filter") == "filter" ? "filter" : null,
    };
}
