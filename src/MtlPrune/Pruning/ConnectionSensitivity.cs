using MtlPrune.Data;
using MtlPrune.Engine;
using MtlPrune.Models;

namespace MtlPrune.Pruning;

/// <summary>One loss to score weights for: its name, the loss of a batch (which runs the forward pass it needs) and the
/// weights whose scores it produces (the others get none).</summary>
public sealed record ScoringObjective(string Name, Func<Batch, Tensor> Loss, Func<PrunableTensor, bool> Covers);

/// <summary>
/// Connection sensitivity through the isomorphic tensor (methods.md §1.2, §3.1): with the model's weights frozen and an
/// all-ones β multiplying each target weight, the score of objective j is G_j = Σ_batches |∂L_j/∂β| = Σ |W ⊙ ∂L_j/∂W|,
/// the absolute value taken per batch. Each objective gets its own forward and backward pass on every batch, as in the
/// reference code. In train mode batch norm uses batch statistics and dropout is active; the model's running statistics,
/// training flags, requires-grad flags and parametrizations are restored afterwards, so scoring changes nothing.
/// </summary>
public static class ConnectionSensitivity
{
    /// <returns>Per objective (in order), per target: the accumulated scores, or null when the objective does not cover it.</returns>
    public static float[]?[][] Score(MultiTaskModel model, IReadOnlyList<PrunableTensor> targets, IReadOnlyList<ScoringObjective> objectives,
        IEnumerable<Batch> batches, bool trainMode = true, Action<int>? batchDone = null)
    {
        var parameters = model.Parameters().ToList();
        var requires = parameters.Select(p => p.RequiresGrad).ToList();
        var buffers = model.NamedBuffers().Select(b => (b.Tensor, Saved: b.Tensor.ToArray())).ToList();
        bool wasTraining = model.Training;
        var betas = targets.Select(t => Tensor.Ones(t.Weight.Shape).RequiresGrad_()).ToList();
        var previous = targets.Select(t => t.Layer.Parametrization).ToList();
        var scores = objectives.Select(o => targets.Select(t => o.Covers(t) ? new float[t.Numel] : null).ToArray()).ToArray();
        try
        {
            foreach (var p in parameters) p.RequiresGrad = false;
            for (int i = 0; i < targets.Count; i++) targets[i].Layer.Parametrization = new IsomorphicWeight(betas[i], previous[i]);
            model.Train(trainMode);
            int done = 0;
            foreach (var batch in batches)
            {
                for (int j = 0; j < objectives.Count; j++)
                {
                    using (BufferScope.Begin())
                    {
                        foreach (var b in betas) b.RecycleGrad();
                        objectives[j].Loss(batch).Backward();
                        for (int i = 0; i < targets.Count; i++)
                        {
                            if (scores[j][i] is not { } acc || betas[i].Grad is not { } g) continue;
                            var gs = g.Span;
                            for (int e = 0; e < acc.Length; e++) acc[e] += MathF.Abs(gs[e]);
                        }
                    }
                }
                batchDone?.Invoke(++done);
            }
        }
        finally
        {
            foreach (var b in betas) b.RecycleGrad();
            for (int i = 0; i < targets.Count; i++) targets[i].Layer.Parametrization = previous[i];
            for (int i = 0; i < parameters.Count; i++) parameters[i].RequiresGrad = requires[i];
            foreach (var (t, saved) in buffers) saved.CopyTo(t.Span);
            model.Train(wasTraining);
        }
        return scores;
    }
}
