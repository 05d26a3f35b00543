using MtlPrune.Data;
using MtlPrune.Engine;
using MtlPrune.Tasks;

namespace MtlPrune.Training;

/// <summary>
/// The predictors a trained model must clearly beat, fitted on the training split: the majority class for
/// segmentation and classification, the mean valid value for depth, keypoints and edges, and the mean (normalised)
/// normal vector for normals. Evaluated with the same metrics as a model.
/// </summary>
public static class TrivialBaseline
{
    public static Evaluation Evaluate(IDataset train, IDataset test, IReadOnlyList<TaskSpec> tasks, int fitSamples = 500)
    {
        var constants = new Dictionary<string, float[]>();
        int n = Math.Min(fitSamples, train.Count);
        foreach (var t in tasks)
        {
            switch (t.Kind)
            {
                case TaskKind.Segmentation:
                case TaskKind.Classification:
                    {
                        var counts = new long[t.Channels];
                        for (int i = 0; i < n; i++)
                            foreach (var v in train.Get(i).Targets[t.Name].ToArray())
                                if ((int)v != t.IgnoreIndex && v >= 0 && v < t.Channels) counts[(int)v]++;
                        int major = Array.IndexOf(counts, counts.Max());
                        var logits = new float[t.Channels]; logits[major] = 1;
                        constants[t.Name] = logits;
                        break;
                    }
                case TaskKind.Normals:
                    {
                        var sum = new double[3];
                        for (int i = 0; i < n; i++)
                        {
                            var a = train.Get(i).Targets[t.Name].ToArray(); int s = a.Length / 3;
                            for (int j = 0; j < s; j++) for (int c = 0; c < 3; c++) sum[c] += a[c * s + j];
                        }
                        double len = Math.Sqrt(sum.Sum(v => v * v));
                        constants[t.Name] = sum.Select(v => (float)(v / Math.Max(len, 1e-12))).ToArray();
                        break;
                    }
                default:
                    {
                        double sum = 0; long cnt = 0;
                        for (int i = 0; i < n; i++)
                            foreach (var v in train.Get(i).Targets[t.Name].ToArray())
                                if (t.Kind == TaskKind.Depth ? v > 0 : v != t.IgnoreIndex) { sum += v; cnt++; }
                        constants[t.Name] = new[] { (float)(sum / Math.Max(cnt, 1)) };
                        break;
                    }
            }
        }
        var metrics = tasks.ToDictionary(t => t.Name, t => t.CreateMetric());
        var losses = tasks.ToDictionary(t => t.Name, _ => 0.0);
        int batches = 0;
        using var loader = new DataLoader(test, 16, shuffle: false);
        foreach (var b in loader.Epoch())
        {
            foreach (var t in tasks)
            {
                var target = b.Targets[t.Name];
                var k = constants[t.Name];
                int h = t.IsDense ? target.Shape[^2] : 1, w = t.IsDense ? target.Shape[^1] : 1;
                var pred = Tensor.Zeros(t.IsDense ? new[] { b.Count, k.Length, h, w } : new[] { b.Count, k.Length });
                var ps = pred.Span; int plane = h * w;
                for (int i = 0; i < b.Count; i++)
                    for (int c = 0; c < k.Length; c++) ps.Slice((i * k.Length + c) * plane, plane).Fill(k[c]);
                metrics[t.Name].Update(pred, target);
                losses[t.Name] += t.Loss(pred, target).Item();
            }
            batches++;
        }
        return new Evaluation(metrics.ToDictionary(kv => kv.Key, kv => kv.Value.Compute()),
            losses.ToDictionary(kv => kv.Key, kv => kv.Value / Math.Max(batches, 1)),
            metrics.ToDictionary(kv => kv.Key, kv => kv.Value.Metrics));
    }
}
