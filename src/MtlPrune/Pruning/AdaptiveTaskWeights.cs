using MtlPrune.Training;

namespace MtlPrune.Pruning;

/// <summary>
/// AdapMTL's adaptive task weighting (methods.md §2.4), as a training extension. Before <c>start</c> every w_i = 1. From
/// then on, each step pushes d_i = |L_i(t−1) − L_i(t)| / L_i(t) (raw per-batch losses) into task i's FIFO; once the FIFO
/// holds more than <c>window</c> values the oldest is dropped and w_i becomes the FIFO's mean. Every step the weights are
/// renormalised to sum to T, the number of tasks (the reference code hard-codes 3), and the loss is Σ λ_i·w_i·L_i with the
/// configured λ as AdapMTL's priorities. Weights are constants: no gradient flows through them.
/// </summary>
public sealed class AdaptiveTaskWeights(int start, int window) : TrainingExtension
{
    private readonly Dictionary<string, Queue<double>> _fifo = new();
    private readonly Dictionary<string, double> _previous = new();
    private readonly Dictionary<string, double> _w = new();

    /// <summary>The current weights w_i (summing to T).</summary>
    public IReadOnlyDictionary<string, double> Weights => _w;

    public override void WeighLosses(TrainingState state, IReadOnlyDictionary<string, double> losses, Dictionary<string, double> weights)
    {
        foreach (var t in losses.Keys) if (!_w.ContainsKey(t)) { _w[t] = 1; _fifo[t] = new Queue<double>(); }
        if (state.Step >= start)
            foreach (var (t, l) in losses)
            {
                if (_previous.TryGetValue(t, out var prev) && l > 0)
                {
                    var q = _fifo[t];
                    q.Enqueue(Math.Abs(prev - l) / l);
                    if (q.Count > window) { q.Dequeue(); _w[t] = q.Average(); }
                }
            }
        foreach (var (t, l) in losses) _previous[t] = l;
        double sum = _w.Values.Sum();
        if (sum > 0) foreach (var t in _w.Keys.ToList()) _w[t] = _w[t] * _w.Count / sum;
        foreach (var t in losses.Keys) weights[t] *= _w[t];
    }

    public override void AddToLog(TrainingState state, Dictionary<string, double> values)
    {
        foreach (var (t, w) in _w) values[$"adapmtl/weight/{t}"] = w;
    }
}
