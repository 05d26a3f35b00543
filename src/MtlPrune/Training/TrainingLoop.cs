using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MtlPrune.Data;
using MtlPrune.Engine;
using MtlPrune.Engine.IO;
using MtlPrune.Engine.Optim;
using MtlPrune.Models;
using MtlPrune.Tasks;

namespace MtlPrune.Training;

/// <summary>Progress of a training run, reported after every step.</summary>
public sealed record TrainProgress(int Step, int Iterations, IReadOnlyDictionary<string, double> Losses, double Lr, TimeSpan Elapsed);

/// <summary>The outcome of a training run.</summary>
public sealed record TrainResult(string BestCheckpoint, string LastCheckpoint, int BestStep, Evaluation BestEvaluation, DeltaTResult BestDeltaT, TimeSpan Elapsed, int Steps);

/// <summary>
/// The one training loop: dense training, masked fine-tuning and the pruning methods that train all run here, changed
/// only through <see cref="TrainingExtension"/>s. Each step minimises Σ λ_k·L_k over the model's tasks with one
/// optimizer (the model's trainable parameters plus the extensions' groups) and the configured schedule. Every
/// <see cref="TrainConfig.EvalEvery"/> steps it validates on the validation split (never the test split) and keeps the
/// best checkpoint by validation ΔT against <c>baseline</c> (by default the first validation; metrics that are 0 in the
/// baseline are left out). It writes, in <see cref="TrainConfig.Output"/>, <c>best.safetensors</c>,
/// <c>last.safetensors</c> + <c>last.optim.safetensors</c> (for resuming), <c>config.json</c>, <c>metrics.jsonl</c>,
/// <c>metrics.csv</c> (rows <c>step,name,value</c>) and <c>curves.svg</c>. Checkpoints keep the masks installed on the model.
/// </summary>
public sealed class TrainingLoop(MultiTaskModel model, IDataset train, IDataset val, TrainConfig config,
    IReadOnlyList<TrainingExtension>? extensions = null, IReadOnlyDictionary<string, Dictionary<string, double>>? baseline = null)
{
    private readonly IReadOnlyList<TrainingExtension> _ext = extensions ?? Array.Empty<TrainingExtension>();

    /// <summary>Validate once before the first step and let that model be the best one (for fine-tuning, where training could only make things worse).</summary>
    public bool EvaluateAtStart { get; init; }

    public TrainResult Run(bool resume = false, Action<TrainProgress>? progress = null, Action<int, Evaluation, DeltaTResult>? evaluated = null)
    {
        config.Validate();
        Directory.CreateDirectory(config.Output);
        var spec = model.Spec;
        var optimizer = MakeOptimizer();
        var schedule = MakeSchedule(optimizer);
        var state = new TrainingState(model, optimizer, config);
        string last = Path.Combine(config.Output, "last.safetensors"), lastOptim = Path.Combine(config.Output, "last.optim.safetensors");
        string best = Path.Combine(config.Output, "best.safetensors");
        int start = 0;
        var reference = baseline is null ? null : new Dictionary<string, Dictionary<string, double>>(baseline);
        double bestDelta = double.NegativeInfinity; int bestStep = 0; Evaluation? bestEval = null; DeltaTResult? bestDT = null;
        if (resume)
        {
            if (!File.Exists(last)) throw new FileNotFoundException($"--resume: no checkpoint '{last}' to resume from.", last);
            var (m, meta) = Checkpoint.Load(last);
            model.LoadStateDict(m.StateDict());
            optimizer.ImportState(SafeTensors.Read(lastOptim).ToDictionary());
            start = int.Parse(meta["mtlprune.step"], CultureInfo.InvariantCulture);
            schedule?.SetEpoch(start);
            if (meta.TryGetValue("mtlprune.baseline", out var b)) reference = JsonSerializer.Deserialize<Dictionary<string, Dictionary<string, double>>>(b);
            if (meta.TryGetValue("mtlprune.best_delta", out var bd)) bestDelta = double.Parse(bd, CultureInfo.InvariantCulture);
            if (meta.TryGetValue("mtlprune.best_step", out var bs)) bestStep = int.Parse(bs, CultureInfo.InvariantCulture);
        }
        else
        {
            File.Delete(Path.Combine(config.Output, "metrics.jsonl"));
            File.Delete(Path.Combine(config.Output, "metrics.csv"));
            File.Delete(best);
        }
        AtomicFile.WriteAllText(Path.Combine(config.Output, "config.json"), config.ToJson());
        var log = new MetricsLog(config.Output);
        var lambdas = spec.Tasks.ToDictionary(t => t.Name, t => config.LossWeights.TryGetValue(t.Name, out var w) ? w : 1.0);
        var first = train.Get(0).Image;
        bool dense = spec.Tasks.Any(t => t.IsDense);
        // Crop back to the sample size after scaling; classification data (Multi-MNIST) gets no geometric augmentation.
        var aug = config.Augment && dense ? new Augmentation(config.ScaleMin, config.ScaleMax, first.Shape[1], first.Shape[2]) : null;
        using var loader = new DataLoader(train, config.Batch, shuffle: true, config.Seed, aug, dropLast: true);
        var sw = Stopwatch.StartNew();
        var running = spec.Tasks.ToDictionary(t => t.Name, _ => 0.0);
        int step = start;
        state.Step = step;
        TrainMode();
        foreach (var e in _ext) e.OnStart(state);

        void Validate()
        {
            var ev = Evaluator.Evaluate(model, val, Math.Max(config.Batch, 16));
            reference ??= ev.Metrics;
            var dt = DeltaT.Compute(ev.Metrics, reference, ev.MetricInfo, skipZeroBaseline: true);
            log.Add(step, ev.Metrics.SelectMany(t => t.Value.Select(m => ($"val/{t.Key}/{m.Key}", m.Value)))
                .Concat(ev.Losses.Select(l => ($"val/{l.Key}/loss", l.Value))).Append(("val/deltaT", dt.Overall)).ToDictionary(x => x.Item1, x => x.Item2));
            var meta = new Dictionary<string, string>
            {
                ["mtlprune.step"] = step.ToString(CultureInfo.InvariantCulture),
                ["mtlprune.config"] = config.ToJson(),
                ["mtlprune.metrics"] = JsonSerializer.Serialize(ev.Metrics),
                ["mtlprune.baseline"] = JsonSerializer.Serialize(reference),
            };
            foreach (var x in _ext) x.AddToCheckpoint(meta);
            if (dt.Overall > bestDelta && _ext.All(x => x.IsCheckpointEligible(state)))
            {
                bestDelta = dt.Overall; bestStep = step; bestEval = ev; bestDT = dt;
                Checkpoint.Save(model, best, meta);
            }
            meta["mtlprune.best_delta"] = bestDelta.ToString("R", CultureInfo.InvariantCulture);
            meta["mtlprune.best_step"] = bestStep.ToString(CultureInfo.InvariantCulture);
            Checkpoint.Save(model, last, meta);
            SafeTensors.Write(lastOptim, optimizer.ExportState());
            log.Flush();
            TrainMode();
            evaluated?.Invoke(step, ev, dt);
        }

        if (EvaluateAtStart && !resume) Validate();
        if (step < config.Iterations)
            foreach (var batch in loader.Stream(start))
            {
                var losses = new Dictionary<string, double>();
                using (BufferScope.Begin())
                {
                    optimizer.ZeroGrad();
                    var outputs = model.ForwardAll(batch.Images);
                    var taskLosses = new Dictionary<string, Tensor>();
                    try
                    {
                        foreach (var t in spec.Tasks)
                        {
                            var l = LossTargets.Loss(t, outputs[t.Name], batch.Targets[t.Name]);
                            losses[t.Name] = l.Item();
                            taskLosses[t.Name] = l;
                        }
                    }
                    catch (NonFiniteException ex) { throw ex.AtStep(step + 1); }
                    var weights = new Dictionary<string, double>(lambdas);
                    foreach (var x in _ext) x.WeighLosses(state, losses, weights);
                    Tensor? total = null;
                    foreach (var t in spec.Tasks)
                    {
                        var wl = taskLosses[t.Name].MulScalar((float)weights[t.Name]);
                        total = total is null ? wl : total + wl;
                    }
                    total!.Backward();
                    foreach (var x in _ext) x.AfterBackward(state);
                    optimizer.Step();
                }
                schedule?.Step();
                step++;
                state.Step = step;
                foreach (var x in _ext) x.AfterStep(state);
                foreach (var (k, v) in losses) running[k] = step == start + 1 ? v : 0.9 * running[k] + 0.1 * v;
                var row = losses.ToDictionary(kv => "train/" + kv.Key + "_loss", kv => kv.Value);
                foreach (var x in _ext) x.AddToLog(state, row);
                log.Add(step, row);
                progress?.Invoke(new TrainProgress(step, config.Iterations, running, optimizer.Groups[0].Lr, sw.Elapsed));
                if (step % config.EvalEvery == 0 || step == config.Iterations) Validate();
                if (step >= config.Iterations) break;
            }
        foreach (var x in _ext) x.OnEnd(state);
        log.Flush();
        TrainingCurves.Write(config.Output);
        if (!File.Exists(best))
        {
            // No validation was eligible (or none ran): the last state is the result.
            Checkpoint.Save(model, best, new Dictionary<string, string> { ["mtlprune.step"] = step.ToString(CultureInfo.InvariantCulture), ["mtlprune.config"] = config.ToJson() }
                .Concat(ExtensionMetadata()).ToDictionary(kv => kv.Key, kv => kv.Value));
            bestStep = step; bestEval = null;
        }
        if (bestEval is null)
        {
            var (bm, _) = Checkpoint.Load(best);
            bestEval = Evaluator.Evaluate(bm, val, Math.Max(config.Batch, 16));
            bestDT = DeltaT.Compute(bestEval.Metrics, reference ?? bestEval.Metrics, bestEval.MetricInfo, skipZeroBaseline: true);
        }
        return new TrainResult(best, last, bestStep, bestEval, bestDT!, sw.Elapsed, step - start);
    }

    private Dictionary<string, string> ExtensionMetadata()
    {
        var meta = new Dictionary<string, string>();
        foreach (var x in _ext) x.AddToCheckpoint(meta);
        return meta;
    }

    /// <summary>Training mode, with batch norm in eval mode when its statistics are frozen.</summary>
    private void TrainMode()
    {
        model.Train();
        if (config.BatchNorm == "frozen")
            foreach (var (_, m) in model.NamedModules()) if (m is Engine.NN.BatchNorm2d) m.Eval();
    }

    private Optimizer MakeOptimizer()
    {
        var groups = new List<ParamGroup> { new(model.Parameters().Where(p => p.RequiresGrad), config.Lr, config.WeightDecay) };
        foreach (var x in _ext) groups.AddRange(x.ParameterGroups(model, config));
        return config.Optimizer switch
        {
            "sgd" => new Sgd(groups, config.Momentum),
            "adamw" => new AdamW(groups, config.Beta1, 0.999, 1e-8),
            _ => new Adam(groups, config.Beta1, 0.999, 1e-8),
        };
    }

    private LrScheduler? MakeSchedule(Optimizer o) => config.Schedule switch
    {
        "step" => new StepLr(o, config.StepSize, config.Gamma),
        "multistep" => new MultiStepLr(o, config.Milestones, config.Gamma),
        "cosine" => new CosineLr(o, config.Iterations),
        _ => null,
    };
}
