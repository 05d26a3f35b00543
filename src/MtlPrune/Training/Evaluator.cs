using MtlPrune.Data;
using MtlPrune.Engine;
using MtlPrune.Models;
using MtlPrune.Tasks;

namespace MtlPrune.Training;

/// <summary>Per-task metrics and mean losses of a model over a data split.</summary>
public sealed record Evaluation(Dictionary<string, Dictionary<string, double>> Metrics, Dictionary<string, double> Losses,
    IReadOnlyDictionary<string, IReadOnlyList<MetricInfo>> MetricInfo);

/// <summary>Runs a model in evaluation mode over a split and accumulates every task's metrics.</summary>
public static class Evaluator
{
    /// <param name="model">The model, run in evaluation mode (restored to its previous mode after).</param>
    /// <param name="data">The split to evaluate.</param>
    /// <param name="batchSize">Images per forward pass.</param>
    /// <param name="conventions">How metrics are computed where papers differ (null: the defaults).</param>
    /// <param name="progress">Called after each batch with (images done, total).</param>
    public static Evaluation Evaluate(MultiTaskModel model, IDataset data, int batchSize = 16, MetricConventions? conventions = null, Action<int, int>? progress = null)
    {
        var tasks = model.Tasks.Where(t => data.Tasks.Any(d => d.Name == t.Name)).ToList();
        if (tasks.Count == 0) throw new ArgumentException($"Data '{data.Name}' has none of the model's tasks ({string.Join(", ", model.Tasks.Select(t => t.Name))}).");
        var metrics = tasks.ToDictionary(t => t.Name, t => t.CreateMetric(conventions));
        var lossSum = tasks.ToDictionary(t => t.Name, _ => 0.0);
        int batches = 0;
        bool wasTraining = model.Training;
        model.Eval();
        try
        {
            using var loader = new DataLoader(data, batchSize, shuffle: false);
            foreach (var b in loader.Epoch())
            {
                using var scope = BufferScope.Begin();
                using var _ = Autograd.NoGrad();
                var outputs = model.ForwardAll(b.Images, tasks.Select(t => t.Name).ToList());
                foreach (var t in tasks)
                {
                    var target = b.Targets[t.Name];
                    var pred = MatchTarget(outputs[t.Name], target, t);
                    metrics[t.Name].Update(pred, target);
                    lossSum[t.Name] += t.Loss(pred, target).Item();
                }
                batches++;
                progress?.Invoke(Math.Min(batches * batchSize, data.Count), data.Count);
            }
        }
        finally { model.Train(wasTraining); }
        return new Evaluation(metrics.ToDictionary(kv => kv.Key, kv => kv.Value.Compute()),
            lossSum.ToDictionary(kv => kv.Key, kv => kv.Value / Math.Max(batches, 1)),
            metrics.ToDictionary(kv => kv.Key, kv => kv.Value.Metrics));
    }

    /// <summary>
    /// Dense predictions at a lower resolution than the target (DeepLab heads at 1/8) are upsampled with nearest
    /// neighbour to the target size, as the DeepLab codebases evaluate (methods.md §5.1).
    /// </summary>
    public static Tensor MatchTarget(Tensor prediction, Tensor target, TaskSpec task)
    {
        if (!task.IsDense || prediction.Rank != 4) return prediction;
        int h = target.Shape[^2], w = target.Shape[^1];
        return prediction.Shape[2] == h && prediction.Shape[3] == w ? prediction : Tensor.Interpolate(prediction, h, w, ResizeMode.Nearest);
    }
}
