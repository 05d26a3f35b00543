using MtlPrune.Engine;
using MtlPrune.Engine.NN;
using MtlPrune.Engine.Optim;
using MtlPrune.Models;

namespace MtlPrune.Pruning;

/// <summary>
/// Binary keep-masks (1 = kept, 0 = pruned) for weights, keyed by parameter name. <see cref="Apply"/> installs them on a
/// model as <see cref="WeightMask"/> parametrizations and zeroes the pruned weights; checkpoints store each mask as
/// <c>&lt;parameter&gt;_mask</c> (PyTorch's <c>weight_mask</c> name), one byte per element. A mask may also name another
/// parameter (the γ and β of a batch norm after a filter pruned whole, or the filter's bias): its pruned entries are set
/// to 0 and kept there by <see cref="Enforce"/>, so the pruned channel outputs exactly 0.
/// </summary>
public sealed class MaskSet
{
    /// <summary>Suffix of a mask's tensor name in checkpoints: <c>layer.weight</c> → <c>layer.weight_mask</c>.</summary>
    public const string Suffix = "_mask";

    private readonly Dictionary<string, Tensor> _masks = new();

    public IReadOnlyDictionary<string, Tensor> Masks => _masks;
    public int Count => _masks.Count;

    /// <summary>Adds (or replaces) the mask of <paramref name="name"/>; every value must be 0 or 1.</summary>
    /// <exception cref="ArgumentException">A value is neither 0 nor 1.</exception>
    public void Set(string name, Tensor mask)
    {
        var s = mask.Contiguous().Span;
        for (int i = 0; i < s.Length; i++)
            if (s[i] != 0f && s[i] != 1f) throw new ArgumentException($"Mask of '{name}' holds {s[i]} at element {i}; masks hold only 0 and 1.");
        mask = mask.IsContiguous ? mask : mask.Contiguous();
        mask.FileDType = DType.U8;
        _masks[name] = mask;
    }

    public bool TryGet(string name, out Tensor mask) => _masks.TryGetValue(name, out mask!);

    /// <summary>Kept (nonzero) entries of one mask.</summary>
    public static long Kept(Tensor mask)
    {
        long n = 0;
        foreach (var v in mask.Contiguous().Span) if (v != 0) n++;
        return n;
    }

    /// <summary>Kept entries over all masks.</summary>
    public long TotalKept => _masks.Values.Sum(Kept);
    /// <summary>Elements over all masks.</summary>
    public long TotalNumel => _masks.Values.Sum(m => (long)m.Numel);

    /// <summary>
    /// Installs every mask on <paramref name="model"/>: zeroes the pruned entries of each weight and sets a
    /// <see cref="WeightMask"/> parametrization on its layer, replacing any earlier mask.
    /// </summary>
    /// <exception cref="ArgumentException">A mask names no conv or linear weight of the model, or its shape differs.</exception>
    public void Apply(MultiTaskModel model)
    {
        var layers = LayersByWeightName(model);
        var parameters = model.NamedParameters().ToDictionary(p => p.Name, p => p.Tensor);
        foreach (var (name, mask) in _masks)
        {
            var target = layers.TryGetValue(name, out var layer) ? layer.Weight : parameters.GetValueOrDefault(name)
                ?? throw new ArgumentException($"Mask '{name}' names no parameter of the model.");
            if (!target.Shape.AsSpan().SequenceEqual(mask.Shape))
                throw new ArgumentException($"Mask '{name}' has shape {Tensor.ShapeString(mask.Shape)}, the parameter has {Tensor.ShapeString(target.Shape)}.");
        }
        foreach (var (name, mask) in _masks)
        {
            if (layers.TryGetValue(name, out var layer))
            {
                ZeroPruned(layer.Weight, mask);
                layer.Parametrization = new WeightMask(mask);
            }
            else
            {
                ZeroPruned(parameters[name], mask);
                model.ParameterMasks[name] = mask;
            }
        }
    }

    /// <summary>Re-zeroes pruned weights and the optimizer state that belongs to them (momentum, Adam moments).</summary>
    public static void Enforce(MultiTaskModel model, Optimizer? optimizer = null)
    {
        foreach (var layer in Layers(model))
            if (layer.Parametrization is WeightMask wm)
            {
                ZeroPruned(layer.Weight, wm.Mask);
                optimizer?.MaskState(layer.Weight, wm.Mask.Span);
            }
        if (model.ParameterMasks.Count == 0) return;
        var parameters = model.NamedParameters().ToDictionary(p => p.Name, p => p.Tensor);
        foreach (var (name, mask) in model.ParameterMasks)
        {
            ZeroPruned(parameters[name], mask);
            optimizer?.MaskState(parameters[name], mask.Span);
        }
    }

    /// <summary>The masks installed on <paramref name="model"/> (empty for a dense model).</summary>
    public static MaskSet FromModel(MultiTaskModel model)
    {
        var set = new MaskSet();
        foreach (var (name, layer) in LayersByWeightName(model))
            if (layer.Parametrization is WeightMask wm) set._masks[name] = wm.Mask;
        foreach (var (name, mask) in model.ParameterMasks) set._masks[name] = mask;
        return set;
    }

    /// <summary>Whether <paramref name="name"/> is the weight of a conv or linear layer (a mask on it is a parametrization).</summary>
    public static bool IsLayerWeight(MultiTaskModel model, string name) => LayersByWeightName(model).ContainsKey(name);

    /// <summary>Removes every mask parametrization from <paramref name="model"/>; the weights keep their zeros (~ <c>prune.remove</c>).</summary>
    public static void Remove(MultiTaskModel model)
    {
        foreach (var layer in Layers(model)) if (layer.Parametrization is WeightMask) layer.Parametrization = null;
        model.ParameterMasks.Clear();
    }

    /// <summary>Masks as checkpoint entries <c>&lt;name&gt;_mask</c> (stored as U8).</summary>
    public IEnumerable<KeyValuePair<string, Tensor>> ToEntries() => _masks.Select(kv => new KeyValuePair<string, Tensor>(kv.Key + Suffix, kv.Value));

    private static void ZeroPruned(Tensor weight, Tensor mask)
    {
        var w = weight.Span; var m = mask.Contiguous().Span;
        for (int i = 0; i < w.Length; i++) if (m[i] == 0f) w[i] = 0f;
    }

    internal static IEnumerable<IWeightedLayer> Layers(Module model) => model.NamedModules().Select(m => m.Module).OfType<IWeightedLayer>();

    internal static Dictionary<string, IWeightedLayer> LayersByWeightName(Module model)
    {
        var d = new Dictionary<string, IWeightedLayer>();
        foreach (var (name, m) in model.NamedModules())
            if (m is IWeightedLayer l) d[name.Length == 0 ? "weight" : name + ".weight"] = l;
        return d;
    }
}
