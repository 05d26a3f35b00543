using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using MtlPrune.Data;
using MtlPrune.Engine.IO;
using MtlPrune.Models;
using MtlPrune.Tasks;
using MtlPrune.Training;

namespace MtlPrune.Pruning;

/// <summary>What <see cref="PruneJob.DryRun"/> found: the model restricted to the kept tasks and the weights the selection matches.</summary>
public sealed record DryRunResult(MultiTaskModel Model, IReadOnlyList<PrunableTensor> Targets, SparsityReport Sparsity);

/// <summary>
/// A pruning run from a checkpoint to a pruned, fine-tuned checkpoint and a report: keep the chosen tasks (the other
/// heads are dropped), evaluate the dense model, compute masks with the method, apply them, evaluate, fine-tune with the
/// masks enforced through the one <see cref="TrainingLoop"/> (best checkpoint by validation ΔT against the dense model),
/// evaluate again, and write, in the output directory, <c>pruned.safetensors</c> (pruned weights exactly 0, masks, and
/// the run's settings in the metadata), <c>report.md</c>, <c>report.json</c> and the fine-tune run under
/// <c>finetune/</c>. Metrics are on the test split; model selection never sees it.
/// </summary>
public sealed class PruneJob(PruneOptions options, IPruningMethod method)
{
    public const string SettingsFile = "prune-settings.json";

    /// <summary>One-line messages about what the job is doing.</summary>
    public Action<string>? Log { get; init; }
    /// <summary>Progress of long phases: (phase, done, total, detail).</summary>
    public Action<string, int, int, string?>? Progress { get; init; }

    /// <summary>Loads the model and lists what would be pruned, without writing anything.</summary>
    public DryRunResult DryRun()
    {
        var (model, _, config, _) = Load();
        var targets = options.Selection.Select(model);
        return new DryRunResult(model, targets, SparsityReport.Measure(model, InputShape(config), targets.Select(t => t.Name).ToHashSet()));
    }

    /// <summary>Runs the job.</summary>
    /// <param name="force">Replace a different run already in the output directory.</param>
    /// <exception cref="ArgumentException">Bad options, an unknown task, or an output directory holding another run (without <paramref name="force"/>).</exception>
    public PruneReport Run(bool force = false)
    {
        var total = Stopwatch.StartNew();
        var sw = Stopwatch.StartNew();
        var (model, sourceTasks, ft, src) = Load();
        var sourceSpec = ModelSpec.FromJson(Engine.IO.SafeTensors.Read(options.Checkpoint).Metadata[Checkpoint.ModelKey], options.Checkpoint);
        var targets = options.Selection.Select(model);
        string sha = Sha256(options.Checkpoint);
        ClaimOutput(sha, force);
        var train = ft.OpenSplit(Split.Train, ft.TrainCount);
        var val = ft.OpenSplit(Split.Validation, ft.ValCount);
        var test = ft.OpenSplit(Split.Test, options.TestCount);
        double load = sw.Elapsed.TotalSeconds;

        sw.Restart();
        Log?.Invoke($"evaluating the dense model on {test.Name} ({test.Count} images) and {val.Name} ({val.Count})");
        var dense = Evaluate(model, test, "dense model");
        var denseVal = Evaluator.Evaluate(model, val, Math.Max(ft.Batch, 16));
        double denseTime = sw.Elapsed.TotalSeconds;

        Log?.Invoke($"{method.Name}: pruning {targets.Count} weights ({targets.Sum(t => (long)t.Numel):N0} values) to {options.Sparsity:P1} sparsity");
        var pruningMeta = new Dictionary<string, string>();
        int methodSteps = 0;
        TrainResult TrainPhase(TrainingPhase phase)
        {
            var c = ft.Clone();
            c.Iterations = phase.Iterations;
            c.EvalEvery = Math.Min(ft.EvalEvery, phase.Iterations);
            c.Output = Path.Combine(options.Output, "phases", phase.Name);
            phase.Configure?.Invoke(c);
            var ext = new List<TrainingExtension>();
            if (MaskSet.FromModel(model).Count > 0) ext.Add(new MaskEnforcement());
            ext.AddRange(phase.Extensions);
            ext.Add(new MetadataExtension(pruningMeta));
            Log?.Invoke($"training phase '{phase.Name}': {c.Iterations} steps ({c.Optimizer}, lr {c.Lr:G3}, batch norm {c.BatchNorm})");
            var r = new TrainingLoop(model, train, val, c, ext, denseVal.Metrics) { EvaluateAtStart = phase.EvaluateAtStart }
                .Run(progress: p => Progress?.Invoke(phase.Name, p.Step, p.Iterations, string.Join(" ", p.Losses.Select(kv => $"{kv.Key} {kv.Value:F3}"))));
            var (best, _) = Checkpoint.Load(r.BestCheckpoint);
            model.LoadStateDict(best.StateDict());
            if (MaskSet.FromModel(best) is { Count: > 0 } m) m.Apply(model);
            methodSteps += r.Steps;
            return r;
        }
        sw.Restart();
        var ctx = new PruningContext
        {
            Model = model, Targets = targets, Sparsity = options.Sparsity, Seed = options.Seed,
            CalibrationBatches = n => Calibration(train, ft, n),
            Progress = (phase, done, all) => Progress?.Invoke(phase, done, all, null),
            Log = Log, Training = ft, Source = src, SourceSpec = sourceSpec, TrainPhase = TrainPhase, Budget = options.Budget,
        };
        var result = method.Prune(ctx);
        double methodTime = sw.Elapsed.TotalSeconds;
        double scoring = result.Details.TryGetValue("scoringSeconds", out var sc) && sc is double d ? d : 0;
        result.Masks.Apply(model);
        var names = targets.Select(t => t.Name).ToHashSet();
        var sparsity = SparsityReport.Measure(model, InputShape(ft), names, options.Sparsity);
        Log?.Invoke($"masks applied: {sparsity.Selected.Sparsity:P2} sparsity over the selected weights (requested {options.Sparsity:P2})");
        foreach (var (k, v) in PruningMetadata(sha, sourceTasks, result, sparsity)) pruningMeta[k] = v;

        sw.Restart();
        var pruned = Evaluate(model, test, result.Trained ? "pruned and trained model" : "pruned model");
        double evalTime = sw.Elapsed.TotalSeconds;

        int steps = 0, bestStep = 0;
        MultiTaskModel final = model;
        int finetuneIterations = options.FinetuneIterations == 0 ? 0 : Math.Max(1, (int)Math.Round(options.FinetuneIterations * options.Budget));
        sw.Restart();
        if (finetuneIterations > 0 && !result.Trained)
        {
            ft.Iterations = finetuneIterations;
            ft.EvalEvery = Math.Min(ft.EvalEvery, finetuneIterations);
            Log?.Invoke($"fine-tuning {finetuneIterations} steps ({ft.Optimizer}, lr {ft.Lr:G3}) with the masks enforced; validating every {ft.EvalEvery}");
            var loop = new TrainingLoop(model, train, val, ft, new TrainingExtension[] { new MaskEnforcement(), new MetadataExtension(pruningMeta) }, denseVal.Metrics)
            { EvaluateAtStart = true };
            var r = loop.Run(progress: p => Progress?.Invoke("fine-tuning", p.Step, p.Iterations,
                string.Join(" ", p.Losses.Select(kv => $"{kv.Key} {kv.Value:F3}"))));
            steps = r.Steps; bestStep = r.BestStep;
            (final, _) = Checkpoint.Load(r.BestCheckpoint);
        }
        double ftTime = sw.Elapsed.TotalSeconds;
        sw.Restart();
        var finetuned = steps > 0 ? Evaluate(final, test, "fine-tuned model") : pruned;
        var finalVal = Evaluator.Evaluate(final, val, Math.Max(ft.Batch, 16));
        evalTime += sw.Elapsed.TotalSeconds;
        var finalSparsity = SparsityReport.Measure(final, InputShape(ft), names, options.Sparsity);

        string output = Path.Combine(options.Output, "pruned.safetensors");
        var meta = new Dictionary<string, string>(pruningMeta)
        {
            ["mtlprune.config"] = ft.ToJson(),
            ["mtlprune.metrics"] = JsonSerializer.Serialize(finetuned.Metrics),
        };
        Checkpoint.Save(final, output, meta);
        var info = model.Tasks.ToDictionary(t => t.Name, t => (IReadOnlyList<MetricInfo>)t.CreateMetric().Metrics);
        var report = new PruneReport
        {
            Method = method.Name, MethodOptions = method.Options, MethodDetails = result.Details,
            SourceCheckpoint = options.Checkpoint, SourceSha256 = sha, Model = model.Spec.Name, SourceTasks = sourceTasks, KeptTasks = options.Tasks,
            Selection = options.Selection.Describe(), Seed = options.Seed, Data = ft.Data, TrainCount = train.Count, ValCount = val.Count,
            TestCount = test.Count, InputShape = InputShape(ft), Finetune = ft, FinetuneSteps = steps, BestStep = bestStep,
            RequestedSparsity = options.Sparsity, Sparsity = finalSparsity, MetricInfo = info,
            Dense = dense, Pruned = pruned, Finetuned = finetuned,
            PrunedDeltaT = Delta(pruned, dense, info), FinetunedDeltaT = Delta(finetuned, dense, info),
            Seconds = new PhaseTimes(load, denseTime, scoring, methodTime - scoring, ftTime, evalTime, total.Elapsed.TotalSeconds),
            OutputCheckpoint = output,
            ValidationDeltaT = Delta(new MetricSet(finalVal.Metrics, finalVal.Losses), new MetricSet(denseVal.Metrics, denseVal.Losses), info),
            Compute = new ComputeSpent(result.ScoringPasses, result.TrainingSteps + methodSteps, steps, src?.Iterations, result.Trained, options.Budget),
        };
        AtomicFile.WriteAllText(Path.Combine(options.Output, "report.json"), JsonSerializer.Serialize(report, ReportJson));
        AtomicFile.WriteAllText(Path.Combine(options.Output, "report.md"), PruneReportMarkdown.Render(report));
        return report;
    }

    public static readonly JsonSerializerOptions ReportJson = new()
    {
        WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Loads the source, checks the tasks and builds the fine-tune configuration.</summary>
    private (MultiTaskModel Model, IReadOnlyList<string> SourceTasks, TrainConfig Finetune, TrainConfig? Source) Load()
    {
        options.Validate();
        var (source, meta) = Checkpoint.Load(options.Checkpoint);
        var sourceTasks = source.Tasks.Select(t => t.Name).ToList();
        foreach (var t in options.Tasks)
            if (!sourceTasks.Contains(t))
                throw new ArgumentException($"--tasks: the checkpoint '{options.Checkpoint}' has no task '{t}' (its tasks: {string.Join(", ", sourceTasks)}).");
        var model = source.SelectTasks(options.Tasks.ToArray());
        var src = TrainConfig.FromMetadata(meta, options.Checkpoint) ?? new TrainConfig { Model = model.Spec.Name };
        var ft = src.Clone();
        ft.Tasks = options.Tasks.ToArray();
        ft.Data = options.Data ?? src.Data;
        ft.DataRoot = options.DataRoot ?? src.DataRoot;
        ft.Size = options.Size ?? src.Size;
        ft.TrainCount = options.TrainCount ?? src.TrainCount;
        ft.ValCount = options.ValCount ?? src.ValCount;
        ft.Classes = options.Classes ?? src.Classes;
        ft.SkipBadSamples = options.SkipBadSamples;
        ft.DataSeed = src.DataSeed ?? src.Seed;
        ft.Seed = options.Seed;
        ft.Iterations = Math.Max(1, options.FinetuneIterations);
        ft.Batch = options.Batch ?? src.Batch;
        ft.Optimizer = options.Optimizer;
        ft.Beta1 = 0.9;
        ft.Lr = options.Lr;
        ft.WeightDecay = options.WeightDecay;
        ft.Schedule = options.Schedule;
        ft.StepSize = options.StepSize;
        ft.Gamma = options.Gamma;
        ft.EvalEvery = options.EvalEvery;
        ft.BatchNorm = options.BatchNorm;
        ft.LossWeights = (options.LossWeights ?? src.LossWeights).Where(kv => options.Tasks.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value);
        ft.Output = Path.Combine(options.Output, "finetune");
        ft.Validate();
        return (model, sourceTasks, ft, TrainConfig.FromMetadata(meta, options.Checkpoint));
    }

    /// <summary>The shape of one input image, for MAC counting: the validation split's first sample, or [3, size, size]
    /// when the data cannot be opened (a dry run without the data at hand).</summary>
    private static int[] InputShape(TrainConfig c)
    {
        if (c.Data is "scenes" or "taskonomy") return new[] { 3, c.Size, c.Size };
        try { return c.OpenSplit(Split.Validation, c.ValCount).Get(0).Image.Shape; }
        catch (Exception e) when (e is IOException or ArgumentException or ModelFormatException) { return new[] { 3, c.Size, c.Size }; }
    }

    private MetricSet Evaluate(MultiTaskModel model, IDataset data, string what)
    {
        var ev = Evaluator.Evaluate(model, data, 16, progress: (done, all) => Progress?.Invoke($"evaluating the {what}", done, all, null));
        return new MetricSet(ev.Metrics, ev.Losses);
    }

    private static DeltaTPair Delta(MetricSet m, MetricSet dense, IReadOnlyDictionary<string, IReadOnlyList<MetricInfo>> info) =>
        new(DeltaT.Compute(m.Metrics, dense.Metrics, info, DeltaTMode.SumPerTask, skipZeroBaseline: true),
            DeltaT.Compute(m.Metrics, dense.Metrics, info, DeltaTMode.MeanPerTask, skipZeroBaseline: true));

    /// <summary>The first <paramref name="n"/> batches of the training split, shuffled and augmented as in training.</summary>
    private static IEnumerable<Batch> Calibration(IDataset train, TrainConfig c, int n)
    {
        var first = train.Get(0).Image;
        var aug = c.Augment && train.Tasks.Any(t => t.IsDense) ? new Augmentation(c.ScaleMin, c.ScaleMax, first.Shape[1], first.Shape[2]) : null;
        using var loader = new DataLoader(train, c.Batch, shuffle: true, c.Seed * 31 + 7, aug, dropLast: true);
        int i = 0;
        foreach (var b in loader.Stream())
        {
            if (i++ >= n) yield break;
            yield return b;
        }
    }

    private Dictionary<string, string> PruningMetadata(string sha, IReadOnlyList<string> sourceTasks, PruningResult result, SparsityReport s) => new()
    {
        ["mtlprune.pruning"] = JsonSerializer.Serialize(new
        {
            method = method.Name, options = method.Options, details = result.Details, tasks = options.Tasks, sourceTasks,
            selection = options.Selection.Describe(), seed = options.Seed, requestedSparsity = options.Sparsity,
            achievedSparsity = new { selected = s.Selected.Sparsity, convLinear = s.ConvLinear.Sparsity, allParameters = s.AllParameters.Sparsity },
            source = new { checkpoint = options.Checkpoint, sha256 = sha },
        }, ReportJson),
    };

    /// <summary>
    /// Records this run's settings in the output directory, refusing (unless forced) a directory that holds a different
    /// run or other files; the same settings again simply redo the run.
    /// </summary>
    private void ClaimOutput(string sha, bool force)
    {
        var settings = JsonSerializer.Serialize(new
        {
            checkpoint = Path.GetFullPath(options.Checkpoint), sha256 = sha, method = method.Name, methodOptions = method.Options,
            options = options with { Output = "", Checkpoint = "" }, selection = options.Selection.Describe(),
        }, ReportJson);
        var path = Path.Combine(options.Output, SettingsFile);
        if (!force && Directory.Exists(options.Output) && Directory.EnumerateFileSystemEntries(options.Output).Any())
        {
            if (!File.Exists(path))
                throw new ArgumentException($"Output directory '{options.Output}' already holds files that are not from a pruning run; choose another --out, or pass --force to write into it.");
            if (File.ReadAllText(path) != settings)
                throw new ArgumentException($"Output directory '{options.Output}' already holds a different pruning run (see its {SettingsFile}); choose another --out, or pass --force to replace it.");
        }
        Directory.CreateDirectory(options.Output);
        AtomicFile.WriteAllText(path, settings);
    }

    private static string Sha256(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }

    /// <summary>Adds the pruning run's metadata to every checkpoint the fine-tune writes.</summary>
    private sealed class MetadataExtension(IReadOnlyDictionary<string, string> meta) : TrainingExtension
    {
        public override void AddToCheckpoint(Dictionary<string, string> metadata)
        {
            foreach (var (k, v) in meta) metadata[k] = v;
        }
    }
}
