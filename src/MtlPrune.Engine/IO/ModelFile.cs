using MtlPrune.Engine.NN;

namespace MtlPrune.Engine.IO;

/// <summary>Saves and loads a module's state dict as safetensors (parameters and buffers, PyTorch names).</summary>
public static class ModelFile
{
    /// <summary>Writes <paramref name="module"/>'s state dict atomically, with optional string metadata.</summary>
    public static void Save(Module module, string path, IReadOnlyDictionary<string, string>? metadata = null) =>
        SafeTensors.Write(path, module.StateDict(), metadata);

    /// <summary>
    /// Loads a safetensors file into <paramref name="module"/> in place. Strict by default: missing or
    /// unexpected keys and shape mismatches throw <see cref="StateDictException"/> naming them, and nothing is copied.
    /// </summary>
    public static LoadResult Load(Module module, string path, bool strict = true)
    {
        var file = SafeTensors.Read(path);
        try { return module.LoadStateDict(file.ToDictionary(), strict); }
        catch (StateDictException e) { throw new ModelFormatException(path, e.Message); }
    }
}
