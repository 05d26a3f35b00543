using MtlPrune.Engine.IO;
using MtlPrune.Models;

namespace MtlPrune.Training;

/// <summary>
/// A model checkpoint: the state dict as safetensors, with the model spec (JSON) and any extra information in the
/// string metadata, so that <see cref="Load"/> rebuilds the model from the file alone.
/// </summary>
public static class Checkpoint
{
    public const string ModelKey = "mtlprune.model";

    /// <summary>Writes the model atomically (temporary file, then rename).</summary>
    public static void Save(MultiTaskModel model, string path, IReadOnlyDictionary<string, string>? extra = null)
    {
        var meta = new Dictionary<string, string> { [ModelKey] = model.Spec.ToJson(), ["format"] = "pt" };
        if (extra is not null) foreach (var (k, v) in extra) meta[k] = v;
        SafeTensors.Write(path, model.StateDict(), meta);
    }

    /// <summary>Rebuilds the model from the spec stored in the file and loads its weights strictly.</summary>
    /// <exception cref="ModelFormatException">The file has no model spec, or its tensors do not match the spec.</exception>
    public static (MultiTaskModel Model, IReadOnlyDictionary<string, string> Metadata) Load(string path)
    {
        var file = SafeTensors.Read(path);
        if (!file.Metadata.TryGetValue(ModelKey, out var json))
            throw new ModelFormatException(path, $"no '{ModelKey}' entry in the metadata: not an MtlPrune checkpoint (train one with `mtlprune train`).");
        ModelSpec spec;
        try { spec = ModelSpec.FromJson(json, path); }
        catch (FormatException e) { throw new ModelFormatException(path, e.Message); }
        var model = ModelFactory.Build(spec);
        try { model.LoadStateDict(file.ToDictionary(), strict: true); }
        catch (Engine.NN.StateDictException e) { throw new ModelFormatException(path, e.Message); }
        return (model, file.Metadata);
    }
}
