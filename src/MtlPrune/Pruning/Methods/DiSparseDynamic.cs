using MtlPrune.Data;
using MtlPrune.Engine;
using MtlPrune.Training;

namespace MtlPrune.Pruning.Methods;

/// <summary>
/// DiSparse's dynamic variant (methods.md §3.2): sparse training from scratch. Each layer gets an ERK density (Erdős–Rényi
/// kernel, power 0.9; the backbone's stem stays dense) averaging to 1 − S, and a random mask of exactly that many weights on
/// a fresh initialisation. Every <see cref="DiSparseOptions.UpdateEvery"/> steps until <see cref="DiSparseOptions.UpdateUntil"/>
/// of training, each layer first cuts its survivors by smallest magnitude down to density d·(1 − p), p decaying from
/// <see cref="DiSparseOptions.PruneRate"/> to 0 on a cosine, then regrows as many as it cut where the dense gradient
/// |∂L_k/∂W| is largest: a head from its own task's gradient; the backbone from the union of the tasks' choices (OR), trimmed
/// to the layer's budget by how many tasks chose a position, then by its largest normalised gradient (the reference lets the
/// union exceed the budget; trimming keeps the sparsity exact). Regrown weights resume the value they had when cut.
/// </summary>
internal sealed class DiSparseDynamic(DiSparseOptions options)
{
    public PruningResult Prune(PruningContext ctx, List<string> tasks)
    {
        ctx.Reinitialize(ctx.Seed + 401);
        var stem = ctx.Targets.FirstOrDefault(t => t.Role.IsShared);
        var density = Erk(ctx.Targets, 1 - ctx.Sparsity, options.ErkPower, stem);
        var rng = new Rng(ctx.Seed + 409);
        var masks = new MaskSet();
        foreach (var t in ctx.Targets)
        {
            int n = t.Numel, keep = (int)Math.Round(density[t.Name] * n);
            var order = Enumerable.Range(0, n).ToArray();
            rng.Shuffle(order);
            var m = new float[n];
            for (int i = 0; i < keep; i++) m[order[i]] = 1;
            masks.Set(t.Name, Tensor.FromArray(m, t.Weight.Shape));
        }
        var stale = ctx.Targets.ToDictionary(t => t.Name, t => t.Weight.ToArray());
        masks.Apply(ctx.Model);
        var phase = ctx.FromScratch("disparse-dynamic");
        if (options.Iterations is int it) phase = phase with { Iterations = ctx.Scaled(it) };
        var updater = new MaskUpdater(ctx, tasks, density, stale, options, (int)(options.UpdateUntil * phase.Iterations));
        var r = ctx.Train(phase with { Extensions = new TrainingExtension[] { updater } });
        var final = MaskSet.FromModel(ctx.Model);
        return new PruningResult(final, new Dictionary<string, object?>
        {
            ["variant"] = "dynamic", ["updates"] = updater.Updates, ["regrown"] = updater.Regrown, ["trainingSteps"] = r.Steps, ["bestStep"] = r.BestStep,
            ["stemDense"] = stem is not null && density[stem.Name] >= 1, ["erkDensities"] = density,
        }) { Trained = true, ScoringPasses = updater.Updates * tasks.Count };
    }

    /// <summary>
    /// ERK densities: d_l = ε·((Σ dims)/(Π dims))^power, ε solved so that the kept weights total <paramref name="overall"/>·N;
    /// layers whose density would exceed 1 are made dense and ε solved again. The stem is dense when the budget allows.
    /// </summary>
    public static Dictionary<string, double> Erk(IReadOnlyList<PrunableTensor> targets, double overall, double power, PrunableTensor? stem)
    {
        long total = targets.Sum(t => (long)t.Numel);
        var dense = new HashSet<string>();
        if (stem is not null && stem.Numel < overall * total) dense.Add(stem.Name);
        var raw = targets.ToDictionary(t => t.Name, t => Math.Pow(t.Weight.Shape.Sum() / (double)t.Weight.Shape.Aggregate(1L, (a, b) => a * b), power));
        while (true)
        {
            double budget = overall * total - targets.Where(t => dense.Contains(t.Name)).Sum(t => (double)t.Numel);
            double divisor = targets.Where(t => !dense.Contains(t.Name)).Sum(t => raw[t.Name] * t.Numel);
            double eps = divisor > 0 ? budget / divisor : 0;
            var over = targets.Where(t => !dense.Contains(t.Name) && eps * raw[t.Name] > 1).ToList();
            if (over.Count == 0) return targets.ToDictionary(t => t.Name, t => dense.Contains(t.Name) ? 1.0 : eps * raw[t.Name]);
            foreach (var t in over) dense.Add(t.Name);
        }
    }

    /// <summary>The periodic prune-and-regrow, as a training extension.</summary>
    private sealed class MaskUpdater(PruningContext ctx, List<string> tasks, Dictionary<string, double> density, Dictionary<string, float[]> stale,
        DiSparseOptions options, int until) : TrainingExtension
    {
        private IEnumerator<Batch>? _batches;
        public int Updates { get; private set; }
        public long Regrown { get; private set; }

        public override void AfterStep(TrainingState state)
        {
            if (state.Step % options.UpdateEvery != 0 || state.Step >= until) return;
            double p = options.PruneRate * 0.5 * (1 + Math.Cos(Math.PI * state.Step / until));
            _batches ??= ctx.CalibrationBatches(int.MaxValue).GetEnumerator();
            if (!_batches.MoveNext()) return;
            var grads = DenseGradients(_batches.Current);
            var masks = MaskSet.FromModel(ctx.Model);
            var next = new MaskSet();
            foreach (var t in ctx.Targets)
            {
                var wv = t.Weight.ToArray(); var m = masks.Masks[t.Name].ToArray();
                int target = (int)Math.Round(density[t.Name] * t.Numel);
                int survive = (int)Math.Floor(target * (1 - p));
                // Cut: keep the `survive` largest |W| among survivors.
                var alive = Enumerable.Range(0, m.Length).Where(i => m[i] != 0).OrderByDescending(i => MathF.Abs(wv[i])).ThenBy(i => i).ToList();
                foreach (var i in alive.Skip(survive)) { stale[t.Name][i] = wv[i]; m[i] = 0; }
                int grow = target - Math.Min(survive, alive.Count);
                if (grow > 0)
                {
                    var owners = tasks.Where(k => t.BelongsTo(k) && grads[k].ContainsKey(t.Name)).ToList();
                    var votes = new Dictionary<int, (int Count, float Best)>();
                    foreach (var k in owners)
                    {
                        var g = grads[k][t.Name];
                        double norm = Math.Max(1e-30, g.Max());
                        foreach (var i in Enumerable.Range(0, m.Length).Where(i => m[i] == 0).OrderByDescending(i => g[i]).ThenBy(i => i).Take(grow))
                        {
                            var (c, b) = votes.GetValueOrDefault(i);
                            votes[i] = (c + 1, Math.Max(b, (float)(g[i] / norm)));
                        }
                    }
                    foreach (var i in votes.OrderByDescending(v => v.Value.Count).ThenByDescending(v => v.Value.Best).ThenBy(v => v.Key).Take(grow).Select(v => v.Key))
                    {
                        m[i] = 1;
                        wv[i] = stale[t.Name][i];
                        Regrown++;
                    }
                }
                wv.CopyTo(t.Weight.Span);
                next.Set(t.Name, Tensor.FromArray(m, t.Weight.Shape));
            }
            next.Apply(ctx.Model);
            MaskSet.Enforce(ctx.Model, state.Optimizer);
            Updates++;
        }

        /// <summary>Per task, per target: |∂L_k/∂W| of the dense weight (masks lifted; pruned weights are 0, so the forward is unchanged).</summary>
        private Dictionary<string, Dictionary<string, float[]>> DenseGradients(Batch batch)
        {
            var model = ctx.Model;
            var saved = ctx.Targets.Select(t => t.Layer.Parametrization).ToList();
            var buffers = model.NamedBuffers().Select(b => (b.Tensor, Saved: b.Tensor.ToArray())).ToList();
            var byName = model.Tasks.ToDictionary(t => t.Name);
            var result = new Dictionary<string, Dictionary<string, float[]>>();
            try
            {
                foreach (var t in ctx.Targets) t.Layer.Parametrization = null;
                foreach (var k in tasks)
                {
                    using var scope = BufferScope.Begin();
                    model.ZeroGrad();
                    LossTargets.Loss(byName[k], model.ForwardAll(batch.Images, new[] { k })[k], batch.Targets[k]).Backward();
                    result[k] = ctx.Targets.Where(t => t.BelongsTo(k) && t.Weight.Grad is not null)
                        .ToDictionary(t => t.Name, t => t.Weight.Grad!.ToArray().Select(MathF.Abs).ToArray());
                }
            }
            finally
            {
                model.ZeroGrad();
                for (int i = 0; i < ctx.Targets.Count; i++) ctx.Targets[i].Layer.Parametrization = saved[i];
                foreach (var (t, s) in buffers) s.CopyTo(t.Span);
            }
            return result;
        }

        public override void OnEnd(TrainingState state) => _batches?.Dispose();
    }
}
