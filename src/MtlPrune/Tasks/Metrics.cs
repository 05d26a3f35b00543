using MtlPrune.Engine;

namespace MtlPrune.Tasks;

/// <summary>A metric's name and direction (LibMTL's <c>weight</c> flag: higher is better or lower is better).</summary>
public sealed record MetricInfo(string Name, bool HigherIsBetter);

/// <summary>Accumulates predictions and targets of one task over a data split and reports its metrics.</summary>
public interface ITaskMetric
{
    /// <summary>The metrics this accumulator reports, in display order.</summary>
    IReadOnlyList<MetricInfo> Metrics { get; }
    /// <summary>Adds one batch: prediction as the model outputs it, target as the data set gives it.</summary>
    void Update(Tensor prediction, Tensor target);
    /// <summary>Metric values over everything added so far.</summary>
    Dictionary<string, double> Compute();
}

/// <summary>How mIoU and pixel accuracy are averaged (methods.md §5.1 vs §5.2).</summary>
public sealed record MetricConventions(bool MiouOverPresentClassesOnly, bool PixelAccuracyPerBatch)
{
    /// <summary>AdaShare / DiSparse / CUT / AdapMTL: mIoU over classes with TP &gt; 0, pixel accuracy per batch.</summary>
    public static readonly MetricConventions AdaShare = new(true, true);
    /// <summary>MTAN / LibMTL: mIoU over all classes, global pixel accuracy.</summary>
    public static readonly MetricConventions Mtan = new(false, false);
    /// <summary>The default: MTAN/LibMTL's, which does not depend on batch composition.</summary>
    public static readonly MetricConventions Default = Mtan;
}

/// <summary>Segmentation: confusion matrix over the whole split; mIoU and pixel accuracy.</summary>
public sealed class SegmentationMetric(int classes, int ignoreIndex, MetricConventions conventions) : ITaskMetric
{
    private readonly long[] _confusion = new long[classes * classes];
    private double _batchAccSum, _batchWeight;

    public IReadOnlyList<MetricInfo> Metrics { get; } = new[] { new MetricInfo("mIoU", true), new MetricInfo("pixAcc", true) };

    public void Update(Tensor prediction, Tensor target)
    {
        int n = prediction.Shape[0], c = prediction.Shape[1], s = prediction.Numel / (n * c);
        var p = prediction.Contiguous().ToArray(); var t = target.Contiguous().ToArray();
        long correct = 0, labelled = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < s; j++)
            {
                int y = (int)t[i * s + j];
                if (y == ignoreIndex || y < 0 || y >= classes) continue;
                int best = 0; float bv = p[(i * c) * s + j];
                for (int ch = 1; ch < c; ch++) { float v = p[(i * c + ch) * s + j]; if (v > bv) { bv = v; best = ch; } }
                _confusion[y * classes + best]++;
                labelled++; if (best == y) correct++;
            }
        if (labelled > 0) { _batchAccSum += n * (double)correct / labelled; _batchWeight += n; }
    }

    public Dictionary<string, double> Compute()
    {
        double iouSum = 0; int counted = 0; long tp = 0, total = 0;
        for (int k = 0; k < classes; k++)
        {
            long tpk = _confusion[k * classes + k], row = 0, col = 0;
            for (int j = 0; j < classes; j++) { row += _confusion[k * classes + j]; col += _confusion[j * classes + k]; }
            tp += tpk; total += row;
            if (conventions.MiouOverPresentClassesOnly && tpk == 0) continue;
            long denom = row + col - tpk;
            iouSum += denom > 0 ? (double)tpk / denom : 0;
            counted++;
        }
        double acc = conventions.PixelAccuracyPerBatch ? (_batchWeight > 0 ? _batchAccSum / _batchWeight : 0) : (total > 0 ? (double)tp / total : 0);
        return new() { ["mIoU"] = counted > 0 ? iouSum / counted : 0, ["pixAcc"] = acc };
    }
}

/// <summary>Classification accuracy over [N, C] logits and [N] labels.</summary>
public sealed class ClassificationMetric(int ignoreIndex) : ITaskMetric
{
    private long _correct, _total;
    public IReadOnlyList<MetricInfo> Metrics { get; } = new[] { new MetricInfo("accuracy", true) };

    public void Update(Tensor prediction, Tensor target)
    {
        int n = prediction.Shape[0], c = prediction.Shape[1];
        var p = prediction.Contiguous().ToArray(); var t = target.Contiguous().ToArray();
        for (int i = 0; i < n; i++)
        {
            if ((int)t[i] == ignoreIndex) continue;
            int best = 0;
            for (int ch = 1; ch < c; ch++) if (p[i * c + ch] > p[i * c + best]) best = ch;
            _total++; if (best == (int)t[i]) _correct++;
        }
    }

    public Dictionary<string, double> Compute() => new() { ["accuracy"] = _total > 0 ? (double)_correct / _total : 0 };
}

/// <summary>Depth: absolute and relative error and δ &lt; 1.25^k over valid pixels (target &gt; 0), pooled over the split.</summary>
public sealed class DepthMetric : ITaskMetric
{
    private double _abs, _rel; private long _d1, _d2, _d3, _count;
    public IReadOnlyList<MetricInfo> Metrics { get; } = new[]
    {
        new MetricInfo("abs_err", false), new MetricInfo("rel_err", false),
        new MetricInfo("delta1", true), new MetricInfo("delta2", true), new MetricInfo("delta3", true),
    };

    public void Update(Tensor prediction, Tensor target)
    {
        var p = prediction.Contiguous().ToArray(); var t = target.Contiguous().ToArray();
        for (int i = 0; i < t.Length; i++)
        {
            double g = t[i];
            if (!(g > 0)) continue;
            double v = p[i], e = Math.Abs(v - g);
            _abs += e; _rel += e / g; _count++;
            double r = v > 0 ? Math.Max(v / g, g / v) : double.PositiveInfinity;
            if (r <= 1.25) _d1++;
            if (r <= 1.25 * 1.25) _d2++;
            if (r <= 1.25 * 1.25 * 1.25) _d3++;
        }
    }

    public Dictionary<string, double> Compute()
    {
        double n = Math.Max(_count, 1);
        return new() { ["abs_err"] = _abs / n, ["rel_err"] = _rel / n, ["delta1"] = 100 * _d1 / n, ["delta2"] = 100 * _d2 / n, ["delta3"] = 100 * _d3 / n };
    }
}

/// <summary>Surface normals: angle in degrees between L2-normalised prediction and target over valid pixels; mean, median and % within 11.25/22.5/30.</summary>
public sealed class NormalMetric : ITaskMetric
{
    private readonly List<float> _angles = new();
    public IReadOnlyList<MetricInfo> Metrics { get; } = new[]
    {
        new MetricInfo("mean", false), new MetricInfo("median", false),
        new MetricInfo("within11.25", true), new MetricInfo("within22.5", true), new MetricInfo("within30", true),
    };

    public void Update(Tensor prediction, Tensor target)
    {
        int n = prediction.Shape[0], c = prediction.Shape[1], s = prediction.Numel / (n * c);
        var p = prediction.Contiguous().ToArray(); var t = target.Contiguous().ToArray();
        for (int i = 0; i < n; i++)
            for (int j = 0; j < s; j++)
            {
                double dot = 0, pp = 0, tt = 0;
                for (int ch = 0; ch < c; ch++)
                {
                    double a = p[(i * c + ch) * s + j], b = t[(i * c + ch) * s + j];
                    dot += a * b; pp += a * a; tt += b * b;
                }
                if (tt == 0) continue;
                double cos = pp > 0 ? dot / Math.Sqrt(pp * tt) : 0;
                _angles.Add((float)(Math.Acos(Math.Clamp(cos, -1, 1)) * 180 / Math.PI));
            }
    }

    public Dictionary<string, double> Compute()
    {
        if (_angles.Count == 0) return Metrics.ToDictionary(m => m.Name, _ => 0.0);
        var a = _angles.ToArray(); Array.Sort(a);
        double median = a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2.0;
        return new()
        {
            ["mean"] = a.Average(v => (double)v), ["median"] = median,
            ["within11.25"] = 100.0 * a.Count(v => v <= 11.25) / a.Length,
            ["within22.5"] = 100.0 * a.Count(v => v <= 22.5) / a.Length,
            ["within30"] = 100.0 * a.Count(v => v <= 30) / a.Length,
        };
    }
}

/// <summary>Keypoints and edges: mean absolute error over pixels whose target is not the ignore value.</summary>
public sealed class L1Metric(int ignoreValue) : ITaskMetric
{
    private double _sum; private long _count;
    public IReadOnlyList<MetricInfo> Metrics { get; } = new[] { new MetricInfo("err", false) };

    public void Update(Tensor prediction, Tensor target)
    {
        var p = prediction.Contiguous().ToArray(); var t = target.Contiguous().ToArray();
        for (int i = 0; i < t.Length; i++)
        {
            if (t[i] == ignoreValue) continue;
            _sum += Math.Abs(p[i] - t[i]); _count++;
        }
    }

    public Dictionary<string, double> Compute() => new() { ["err"] = _count > 0 ? _sum / _count : 0 };
}
