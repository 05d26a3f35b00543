using System.Diagnostics;
using System.Globalization;
using System.Text;
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
public sealed record TrainResult(string BestCheckpoint, string LastCheckpoint, int BestStep, Evaluation BestEvaluation, DeltaTResult BestDeltaT, TimeSpan Elapsed);

/// <summary>
/// Dense multi-task training: Σ λ_k·L_k over the configured tasks, one optimizer over all parameters, a schedule,
/// validation every <see cref="TrainConfig.EvalEvery"/> steps on the validation split (never the test split), and
/// the best checkpoint by validation ΔT against the first validation result (metrics that were 0 there are left out). Writes, in the output directory,
/// <c>best.safetensors</c>, <c>last.safetensors</c> + <c>last.optim.safetensors</c> (for <c>--resume</c>),
/// <c>config.json</c>, <c>metrics.jsonl</c>, <c>metrics.csv</c> (rows <c>step,name,value</c>) and <c>curves.svg</c>.
/// </summary>
public sealed class Trainer(TrainConfig config)
{
    public TrainResult Run(bool resume = false, Action<TrainProgress>? progress = null, Action<int, Evaluation, DeltaTResult>? evaluated = null)
    {
        config.Validate();
        Directory.CreateDirectory(config.Output);
        var (train, val) = config.OpenData();
        var spec = config.BuildSpec(train.Tasks);
        var model = ModelFactory.Build(spec, config.Seed);
        var optimizer = MakeOptimizer(model);
        var schedule = MakeSchedule(optimizer);
        string last = Path.Combine(config.Output, "last.safetensors"), lastOptim = Path.Combine(config.Output, "last.optim.safetensors");
        string best = Path.Combine(config.Output, "best.safetensors");
        int start = 0;
        Dictionary<string, Dictionary<string, double>>? baseline = null;
        double bestDelta = double.NegativeInfinity; int bestStep = 0; Evaluation? bestEval = null; DeltaTResult? bestDT = null;
        if (resume)
        {
            if (!File.Exists(last)) throw new FileNotFoundException($"--resume: no checkpoint '{last}' to resume from.", last);
            var (m, meta) = Checkpoint.Load(last);
            model.LoadStateDict(m.StateDict());
            optimizer.ImportState(SafeTensors.Read(lastOptim).ToDictionary());
            start = int.Parse(meta["mtlprune.step"], CultureInfo.InvariantCulture);
            schedule?.SetEpoch(start);
            if (meta.TryGetValue("mtlprune.baseline", out var b)) baseline = JsonSerializer.Deserialize<Dictionary<string, Dictionary<string, double>>>(b);
            if (meta.TryGetValue("mtlprune.best_delta", out var bd)) bestDelta = double.Parse(bd, CultureInfo.InvariantCulture);
            if (meta.TryGetValue("mtlprune.best_step", out var bs)) bestStep = int.Parse(bs, CultureInfo.InvariantCulture);
        }
        else
        {
            File.Delete(Path.Combine(config.Output, "metrics.jsonl"));
            File.Delete(Path.Combine(config.Output, "metrics.csv"));
        }
        AtomicFile.WriteAllText(Path.Combine(config.Output, "config.json"), config.ToJson());
        var log = new MetricsLog(config.Output);
        var weights = spec.Tasks.ToDictionary(t => t.Name, t => config.LossWeights.TryGetValue(t.Name, out var w) ? w : 1.0);
        var first = train.Get(0).Image;
        bool dense = spec.Tasks.Any(t => t.IsDense);
        // Crop back to the sample size after scaling; classification data (Multi-MNIST) gets no geometric augmentation.
        var aug = config.Augment && dense ? new Augmentation(config.ScaleMin, config.ScaleMax, first.Shape[1], first.Shape[2]) : null;
        using var loader = new DataLoader(train, config.Batch, shuffle: true, config.Seed, aug, dropLast: true);
        var sw = Stopwatch.StartNew();
        var running = spec.Tasks.ToDictionary(t => t.Name, _ => 0.0);
        int step = start;
        model.Train();
        foreach (var batch in loader.Stream(start))
        {
            if (step >= config.Iterations) break;
            var losses = new Dictionary<string, double>();
            using (BufferScope.Begin())
            {
                optimizer.ZeroGrad();
                var outputs = model.ForwardAll(batch.Images);
                Tensor? total = null;
                try
                {
                    foreach (var t in spec.Tasks)
                    {
                        var l = t.Loss(outputs[t.Name], TargetFor(outputs[t.Name], batch.Targets[t.Name], t));
                        losses[t.Name] = l.Item();
                        var wl = l.MulScalar((float)weights[t.Name]);
                        total = total is null ? wl : total + wl;
                    }
                }
                catch (NonFiniteException e) { throw e.AtStep(step + 1); }
                total!.Backward();
                optimizer.Step();
            }
            schedule?.Step();
            step++;
            foreach (var (k, v) in losses) running[k] = step == start + 1 ? v : 0.9 * running[k] + 0.1 * v;
            log.Add(step, losses.ToDictionary(kv => "train/" + kv.Key + "_loss", kv => kv.Value));
            progress?.Invoke(new TrainProgress(step, config.Iterations, running, optimizer.Groups[0].Lr, sw.Elapsed));
            if (step % config.EvalEvery == 0 || step == config.Iterations)
            {
                var ev = Evaluator.Evaluate(model, val, Math.Max(config.Batch, 16));
                baseline ??= ev.Metrics;
                var dt = DeltaT.Compute(ev.Metrics, baseline, ev.MetricInfo, skipZeroBaseline: true);
                log.Add(step, ev.Metrics.SelectMany(t => t.Value.Select(m => ($"val/{t.Key}/{m.Key}", m.Value)))
                    .Concat(ev.Losses.Select(l => ($"val/{l.Key}/loss", l.Value))).Append(("val/deltaT", dt.Overall)).ToDictionary(x => x.Item1, x => x.Item2));
                var meta = new Dictionary<string, string>
                {
                    ["mtlprune.step"] = step.ToString(CultureInfo.InvariantCulture),
                    ["mtlprune.config"] = config.ToJson(),
                    ["mtlprune.metrics"] = JsonSerializer.Serialize(ev.Metrics),
                    ["mtlprune.baseline"] = JsonSerializer.Serialize(baseline),
                };
                if (dt.Overall > bestDelta)
                {
                    bestDelta = dt.Overall; bestStep = step; bestEval = ev; bestDT = dt;
                    Checkpoint.Save(model, best, meta);
                }
                meta["mtlprune.best_delta"] = bestDelta.ToString("R", CultureInfo.InvariantCulture);
                meta["mtlprune.best_step"] = bestStep.ToString(CultureInfo.InvariantCulture);
                Checkpoint.Save(model, last, meta);
                SafeTensors.Write(lastOptim, optimizer.ExportState());
                log.Flush();
                evaluated?.Invoke(step, ev, dt);
            }
        }
        log.Flush();
        WriteCurves(config.Output);
        if (bestEval is null)
        {
            var (bm, _) = Checkpoint.Load(best);
            bestEval = Evaluator.Evaluate(bm, val, Math.Max(config.Batch, 16));
            bestDT = DeltaT.Compute(bestEval.Metrics, baseline ?? bestEval.Metrics, bestEval.MetricInfo, skipZeroBaseline: true);
        }
        return new TrainResult(best, last, bestStep, bestEval, bestDT!, sw.Elapsed);
    }

    /// <summary>
    /// <c>curves.svg</c> from <c>metrics.csv</c>: training losses per task (smoothed over 50 steps, log scale) and
    /// validation ΔT.
    /// </summary>
    private static void WriteCurves(string dir)
    {
        var rows = File.ReadLines(Path.Combine(dir, "metrics.csv")).Skip(1).Select(l => l.Split(','))
            .Where(p => p.Length == 3).Select(p => (Step: int.Parse(p[0], CultureInfo.InvariantCulture), Name: p[1], Value: double.Parse(p[2], CultureInfo.InvariantCulture))).ToList();
        var losses = rows.Where(r => r.Name.StartsWith("train/")).GroupBy(r => r.Name).Select(g =>
        {
            var pts = g.OrderBy(r => r.Step).ToList();
            var smooth = pts.Select((r, i) => (X: (double)r.Step, Y: pts.Skip(Math.Max(0, i - 49)).Take(Math.Min(50, i + 1)).Average(q => q.Value))).ToList();
            return new Reports.Series(g.Key["train/".Length..], smooth);
        }).ToList();
        var delta = rows.Where(r => r.Name == "val/deltaT").Select(r => ((double)r.Step, r.Value)).ToList();
        var svg = Reports.SvgChart.Render($"training: {Path.GetFileName(Path.GetFullPath(dir))}", "step", new[]
        {
            ("training loss per task (mean of the last 50 steps)", (IReadOnlyList<Reports.Series>)losses, true),
            ("validation ΔT against the first validation (%)", (IReadOnlyList<Reports.Series>)new[] { new Reports.Series("ΔT", delta) }, false),
        });
        AtomicFile.WriteAllText(Path.Combine(dir, "curves.svg"), svg);
    }

    /// <summary>Dense targets larger than a 1/8-resolution prediction are nearest-downsampled to it (methods.md §1.2).</summary>
    private static Tensor TargetFor(Tensor prediction, Tensor target, TaskSpec task)
    {
        if (!task.IsDense || prediction.Rank != 4) return target;
        int h = prediction.Shape[2], w = prediction.Shape[3];
        if (target.Shape[^2] == h && target.Shape[^1] == w) return target;
        bool labels = target.Rank == 3;
        var t4 = labels ? target.Reshape(target.Shape[0], 1, target.Shape[1], target.Shape[2]) : target;
        var r = Tensor.Interpolate(t4, h, w, ResizeMode.Nearest);
        return labels ? r.Reshape(target.Shape[0], h, w) : r;
    }

    private Optimizer MakeOptimizer(MultiTaskModel model) => config.Optimizer switch
    {
        "sgd" => new Sgd(model.Parameters(), config.Lr, config.Momentum, config.WeightDecay),
        "adamw" => new AdamW(model.Parameters(), config.Lr, config.Beta1, 0.999, 1e-8, config.WeightDecay),
        _ => new Adam(model.Parameters(), config.Lr, config.Beta1, 0.999, 1e-8, config.WeightDecay),
    };

    private LrScheduler? MakeSchedule(Optimizer o) => config.Schedule switch
    {
        "step" => new StepLr(o, config.StepSize, config.Gamma),
        "multistep" => new MultiStepLr(o, config.Milestones, config.Gamma),
        "cosine" => new CosineLr(o, config.Iterations),
        _ => null,
    };
}

/// <summary>Appends metrics as JSON lines and as CSV rows <c>step,name,value</c>.</summary>
internal sealed class MetricsLog(string dir)
{
    private readonly StringBuilder _jsonl = new(), _csv = new();

    public void Add(int step, IReadOnlyDictionary<string, double> values)
    {
        var row = new Dictionary<string, object> { ["step"] = step };
        foreach (var (k, v) in values) { row[k] = v; _csv.Append(CultureInfo.InvariantCulture, $"{step},{k},{v.ToString("R", CultureInfo.InvariantCulture)}\n"); }
        _jsonl.AppendLine(JsonSerializer.Serialize(row));
        if (_jsonl.Length > 1 << 16) Flush();
    }

    public void Flush()
    {
        var csvPath = Path.Combine(dir, "metrics.csv");
        if (!File.Exists(csvPath)) File.WriteAllText(csvPath, "step,name,value\n");
        File.AppendAllText(Path.Combine(dir, "metrics.jsonl"), _jsonl.ToString());
        File.AppendAllText(csvPath, _csv.ToString());
        _jsonl.Clear(); _csv.Clear();
    }
}
