using MtlPrune.Deploy;
using MtlPrune.Engine;
using MtlPrune.Models;

namespace MtlPrune.Pruning;

/// <summary>
/// Structured (filter-level) pruning, for hardware without sparse kernels: element scores are summed per output filter
/// and every weight of a filter ranks by its filter's score, so the per-task top-k and the fusion keep or drop filters
/// whole; <see cref="RoundToFilters"/> settles the one filter per task a top-k boundary may split. A pruned filter's
/// channel is then made exactly 0 (<see cref="ChannelMasks"/>: its bias and the γ, β of the batch norm after it are masked
/// too), so <see cref="ChannelCompaction"/> can remove it and the readers' matching input channels. Layers whose filters
/// are task output channels (each head's last layer) are never pruned.
/// </summary>
public static class FilterPruning
{
    /// <summary>
    /// Replaces each weight's score by its filter's: the sum of the filter's scores, divided by the filter's size so that
    /// filters compete for the weight budget by importance per weight kept (within a layer the order is the sums' order;
    /// across layers a large filter must earn its size). Output layers score highest.
    /// </summary>
    public static void SumPerFilter(float[]?[][] scores, IReadOnlyList<PrunableTensor> targets, IReadOnlySet<string> outputLayers)
    {
        foreach (var perTarget in scores)
            for (int i = 0; i < targets.Count; i++)
            {
                if (perTarget[i] is not { } s) continue;
                if (outputLayers.Contains(LayerName(targets[i]))) { Array.Fill(s, float.MaxValue); continue; }
                int filters = targets[i].Weight.Shape[0], per = s.Length / filters;
                for (int f = 0; f < filters; f++)
                {
                    var span = s.AsSpan(f * per, per);
                    double sum = 0;
                    foreach (var v in span) sum += v;
                    span.Fill((float)Math.Min(sum / per, float.MaxValue / 2));
                }
            }
    }

    /// <summary>Each filter kept whole when at least half its weights are kept, pruned whole otherwise.</summary>
    public static MaskSet RoundToFilters(MaskSet masks, IReadOnlyList<PrunableTensor> targets)
    {
        var result = new MaskSet();
        foreach (var t in targets)
        {
            if (!masks.TryGet(t.Name, out var mask)) continue;
            var m = mask.ToArray();
            int filters = t.Weight.Shape[0], per = m.Length / filters;
            for (int f = 0; f < filters; f++)
            {
                var span = m.AsSpan(f * per, per);
                int kept = 0;
                foreach (var v in span) if (v != 0) kept++;
                span.Fill(2 * kept >= per ? 1f : 0f);
            }
            result.Set(t.Name, Tensor.FromArray(m, t.Weight.Shape));
        }
        return result;
    }

    /// <summary>
    /// Adds to <paramref name="masks"/> the masks that make each pruned filter's channel exactly 0: its layer's bias and
    /// the γ and β of the batch norm reading it (found from the model's structure). Returns how many filters are pruned.
    /// </summary>
    public static int ChannelMasks(MultiTaskModel model, MaskSet masks, IReadOnlyList<PrunableTensor> targets)
    {
        var bnAfter = ModelLowering.BatchNormAfterConv(model);
        var parameters = model.NamedParameters().ToDictionary(p => p.Name, p => p.Tensor);
        int pruned = 0;
        foreach (var t in targets)
        {
            if (!masks.TryGet(t.Name, out var mask)) continue;
            var m = mask.ToArray();
            int filters = t.Weight.Shape[0], per = m.Length / filters;
            var channel = new float[filters];
            for (int f = 0; f < filters; f++) channel[f] = m.AsSpan(f * per, per).IndexOfAnyExcept(0f) >= 0 ? 1f : 0f;
            int dead = channel.Count(v => v == 0);
            if (dead == 0) continue;
            pruned += dead;
            string layer = LayerName(t);
            var names = new List<string> { layer + ".bias" };
            if (bnAfter.TryGetValue(layer, out var bn)) names.AddRange(new[] { bn + ".weight", bn + ".bias" });
            foreach (var n in names.Where(parameters.ContainsKey))
                masks.Set(n, Tensor.FromArray((float[])channel.Clone(), filters));
        }
        return pruned;
    }

    private static string LayerName(PrunableTensor t) => t.Name.EndsWith(".weight") ? t.Name[..^".weight".Length] : t.Name;
}
