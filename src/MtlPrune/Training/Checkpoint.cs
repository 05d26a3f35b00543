using MtlPrune.Engine;
using MtlPrune.Engine.IO;
using MtlPrune.Models;
using MtlPrune.Pruning;

namespace MtlPrune.Training;

/// <summary>
/// A model checkpoint: the state dict as safetensors, with the model spec (JSON) and any extra information in the
/// string metadata, so that <see cref="Load"/> rebuilds the model from the file alone. A pruned model's masks are stored
/// beside its weights as <c>&lt;parameter&gt;_mask</c> (U8) and installed again on load; its pruned weights are exactly 0.
/// </summary>
public static class Checkpoint
{
    public const string ModelKey = "mtlprune.model";

    /// <summary>Writes the model and the masks installed on it atomically (temporary file, then rename).</summary>
    public static void Save(MultiTaskModel model, string path, IReadOnlyDictionary<string, string>? extra = null)
    {
        var meta = new Dictionary<string, string> { [ModelKey] = model.Spec.ToJson(), ["format"] = "pt" };
        if (extra is not null) foreach (var (k, v) in extra) meta[k] = v;
        SafeTensors.Write(path, model.StateDict().Concat(MaskSet.FromModel(model).ToEntries()), meta);
    }

    /// <summary>
    /// The checkpoint file a user means by <paramref name="path"/>: the file itself, or in a directory its
    /// <c>pruned.safetensors</c> (a prune run) or else <c>best.safetensors</c> (a training run).
    /// </summary>
    /// <exception cref="FileNotFoundException">Neither exists.</exception>
    public static string Resolve(string path)
    {
        if (File.Exists(path)) return path;
        if (Directory.Exists(path))
        {
            foreach (var name in new[] { "pruned.safetensors", "best.safetensors" })
                if (File.Exists(Path.Combine(path, name))) return Path.Combine(path, name);
            throw new FileNotFoundException($"'{path}' is a directory without pruned.safetensors or best.safetensors (the checkpoints of `mtlprune prune` and `mtlprune train`).", path);
        }
        throw new FileNotFoundException($"Checkpoint '{path}' does not exist.", path);
    }

    /// <summary>Rebuilds the model from the spec stored in the file, loads its weights strictly and installs its masks.</summary>
    /// <exception cref="ModelFormatException">The file has no model spec, or its tensors do not match the spec.</exception>
    public static (MultiTaskModel Model, IReadOnlyDictionary<string, string> Metadata) Load(string path)
    {
        var file = SafeTensors.Read(path);
        if (!file.Metadata.TryGetValue(ModelKey, out var json))
            throw new ModelFormatException(path, $"no '{ModelKey}' entry in the metadata: not an MtlPrune multi-task checkpoint (train one with `mtlprune train`).");
        ModelSpec spec;
        try { spec = ModelSpec.FromJson(json, path); }
        catch (FormatException e) { throw new ModelFormatException(path, e.Message); }
        MultiTaskModel model;
        try { model = ModelFactory.Build(spec); }
        catch (ArgumentException e) { throw new ModelFormatException(path, "invalid model spec: " + e.Message); }
        var tensors = file.ToDictionary();
        var masks = new MaskSet();
        foreach (var name in tensors.Keys.Where(k => k.EndsWith(MaskSet.Suffix) && tensors.ContainsKey(k[..^MaskSet.Suffix.Length])).ToList())
        {
            try { masks.Set(name[..^MaskSet.Suffix.Length], tensors[name]); }
            catch (ArgumentException e) { throw new ModelFormatException(path, e.Message); }
            tensors.Remove(name);
        }
        try { model.LoadStateDict(tensors, strict: true); }
        catch (Engine.NN.StateDictException e) { throw new ModelFormatException(path, e.Message); }
        try { masks.Apply(model); }
        catch (ArgumentException e) { throw new ModelFormatException(path, e.Message); }
        return (model, file.Metadata);
    }
}
