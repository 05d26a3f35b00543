using MtlPrune.Engine;
using MtlPrune.Engine.IO;
using MtlPrune.Engine.IO.Torch;

namespace MtlPrune.Interop;

/// <summary>A state dict read from an outside file, with what was done to it on the way.</summary>
public sealed record ForeignStateDict(Dictionary<string, Tensor> Tensors, Dictionary<string, Tensor> Masks, List<string> Notes, string Format);

/// <summary>
/// Reads a PyTorch state dict from a <c>torch.save</c> zip file (<c>.pth</c>, <c>.pt</c>, <c>.bin</c>, ...) or a
/// safetensors file, and undoes the wrappers users' files have:
/// <list type="bullet">
/// <item>a state dict nested under <c>state_dict</c>, <c>model</c>, <c>model_state_dict</c> or <c>net</c> beside other entries
/// (<c>iter</c>, <c>optimizer</c>, ...), which are ignored and listed;</item>
/// <item>a <c>module.</c> prefix on every name (DataParallel);</item>
/// <item><c>torch.nn.utils.prune</c>'s <c>&lt;name&gt;_orig</c> + <c>&lt;name&gt;_mask</c>, which become the weight (orig ⊙ mask)
/// and a mask.</item>
/// </list>
/// Everything else (0-d buffers stored with shape [1], names of layouts) is the importer's business.
/// </summary>
public static class StateDictFile
{
    private static readonly string[] WrapperKeys = { "state_dict", "model", "model_state_dict", "net" };

    /// <exception cref="ModelFormatException">The file is malformed or holds no state dict; the message names the file and the fault.</exception>
    public static ForeignStateDict Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"File '{path}' does not exist.", path);
        var head = new byte[16];
        int n;
        using (var fs = File.OpenRead(path)) n = fs.Read(head, 0, head.Length);
        var notes = new List<string>();
        Dictionary<string, Tensor> tensors;
        string format;
        if (TorchArchive.LooksLikeTorch(head.AsSpan(0, n)))
        {
            using var archive = TorchArchive.Open(path);
            tensors = FromTorch(archive, notes);
            format = "torch.save zip";
        }
        else if (n >= 9 && head[8] == (byte)'{')
        {
            tensors = SafeTensors.Read(path).ToDictionary();
            format = "safetensors";
        }
        else throw new ModelFormatException(path, "neither a torch.save zip file nor a safetensors file.");
        if (tensors.Count == 0) throw new ModelFormatException(path, "holds no tensors.");
        if (tensors.Keys.All(k => k.StartsWith("module.")))
        {
            tensors = tensors.ToDictionary(kv => kv.Key["module.".Length..], kv => kv.Value);
            notes.Add("removed the 'module.' prefix (DataParallel) from every name");
        }
        var masks = new Dictionary<string, Tensor>();
        foreach (var orig in tensors.Keys.Where(k => k.EndsWith("_orig")).ToList())
        {
            var name = orig[..^"_orig".Length];
            if (!tensors.TryGetValue(name + "_mask", out var mask)) continue;
            var w = tensors[orig];
            if (!w.Shape.AsSpan().SequenceEqual(mask.Shape)) throw new ModelFormatException(path, $"'{orig}' has shape {Tensor.ShapeString(w.Shape)} but '{name}_mask' has {Tensor.ShapeString(mask.Shape)}.");
            var ws = w.Span; var ms = mask.Span;
            for (int i = 0; i < ws.Length; i++)
            {
                if (ms[i] != 0 && ms[i] != 1) throw new ModelFormatException(path, $"'{name}_mask' holds {ms[i]}; a pruning mask holds only 0 and 1.");
                ws[i] *= ms[i];
            }
            w.Name = name;
            tensors.Remove(orig); tensors.Remove(name + "_mask");
            tensors[name] = w;
            masks[name] = mask;
        }
        if (masks.Count > 0) notes.Add($"{masks.Count} weights pruned with torch.nn.utils.prune: imported as weight_orig ⊙ weight_mask, with their masks");
        return new ForeignStateDict(tensors, masks, notes, format);
    }

    private static Dictionary<string, Tensor> FromTorch(TorchArchive archive, List<string> notes)
    {
        if (archive.Root is not PyDict root) throw new ModelFormatException(archive.Source, $"the pickled object is a {archive.Root?.GetType().Name ?? "None"}, not a dict; a state dict is an OrderedDict of tensors.");
        var dict = root;
        if (!IsStateDict(root))
        {
            var found = WrapperKeys.Select(k => root.TryGet(k, out var v) && v is PyDict d && IsStateDict(d) ? (k, d) : default).FirstOrDefault(x => x.d is not null);
            if (found.d is null)
                throw new ModelFormatException(archive.Source, $"no state dict found: the top-level dict has keys {Keys(root)}, and none of {string.Join(", ", WrapperKeys)} holds a dict of tensors.");
            dict = found.d;
            var others = root.Items.Where(kv => !Equals(kv.Key, found.k)).Select(kv => $"{kv.Key}").ToList();
            notes.Add($"read the state dict under '{found.k}'" + (others.Count > 0 ? $"; ignored the other entries: {string.Join(", ", others)}" : ""));
        }
        var result = new Dictionary<string, Tensor>();
        foreach (var (key, value) in dict.Items)
        {
            if (key is not string name) throw new ModelFormatException(archive.Source, $"state dict key {key} is not a string.");
            if (value is not TorchTensor t) throw new ModelFormatException(archive.Source, $"state dict entry '{name}' is not a tensor.");
            result[name] = archive.Materialize(t, name);
        }
        return result;
    }

    private static bool IsStateDict(PyDict d) => d.Count > 0 && d.Items.All(kv => kv.Key is string && kv.Value is TorchTensor);

    private static string Keys(PyDict d) => string.Join(", ", d.Items.Take(12).Select(kv => $"'{kv.Key}'")) + (d.Count > 12 ? ", …" : "");
}
