using System.Security.Cryptography;
using System.Text.Json;
using MtlPrune.Engine;
using MtlPrune.Engine.IO;
using MtlPrune.Models;
using MtlPrune.Pruning;
using MtlPrune.Training;

namespace MtlPrune.Interop;

/// <summary>What <see cref="PyTorchImport.Import"/> did: the model (weights and masks loaded), the layout, and one line per decision.</summary>
public sealed record ImportResult(MultiTaskModel Model, string Layout, IReadOnlyList<string> Inferred, IReadOnlyList<string> Notes, string Format, string Source, string Sha256);

/// <summary>
/// Imports a PyTorch multi-task checkpoint (a <c>torch.save</c> state dict or a PyTorch-named safetensors file, in a
/// known <see cref="ITensorLayout"/>) as an MtlPrune model: reads the state dict (<see cref="StateDictFile"/>), detects
/// or takes the layout, infers the architecture from the shapes, and maps every tensor by name. Any tensor the layout
/// does not expect, any it expects but the file lacks, and any shape that differs is listed by name, and nothing is
/// written. Masks of <c>torch.nn.utils.prune</c> (and AdapMTL's soft thresholds) become MtlPrune masks.
/// </summary>
public static class PyTorchImport
{
    /// <exception cref="ArgumentException">The layout or tasks do not fit the file; the message names what is wrong.</exception>
    /// <exception cref="ModelFormatException">The file is malformed.</exception>
    public static ImportResult Import(string path, string layout = "auto", IReadOnlyList<TaskRequest>? tasks = null, int ignoreIndex = 255)
    {
        var sd = StateDictFile.Read(path);
        var l = layout == "auto" ? Layouts.Detect(sd.Tensors.Keys, path) : Layouts.Get(layout);
        var notes = new List<string>(sd.Notes);
        if (layout == "auto") notes.Insert(0, $"layout: {l.Name} (detected from the tensor names)");
        var tensors = new Dictionary<string, Tensor>(sd.Tensors);
        var masks = new Dictionary<string, Tensor>(sd.Masks);
        l.Prepare(tensors, masks, notes);
        var inferred = new List<string>();
        ModelSpec spec;
        try { spec = l.Infer(tensors, tasks, ignoreIndex, inferred); }
        catch (ArgumentException e) when (!l.Recognizes(tensors.Keys) && Layouts.All.FirstOrDefault(x => x.Recognizes(tensors.Keys)) is { } fits)
        {
            throw new ArgumentException($"{e.Message} (the file's names look like the {fits.Name} layout: try --layout {fits.Name} or auto)");
        }
        var model = ModelFactory.Build(spec);
        var names = l.Names(model);
        var own = model.StateDict();
        var missing = names.Where(kv => !tensors.ContainsKey(kv.Value)).Select(kv => kv.Value).ToList();
        var used = names.Values.ToHashSet();
        var unknown = tensors.Keys.Where(k => !used.Contains(k)).ToList();
        var mapped = new Dictionary<string, Tensor>();
        var mismatched = new List<string>();
        foreach (var (ours, theirs) in names)
        {
            if (!tensors.TryGetValue(theirs, out var t)) continue;
            var want = own[ours].Shape;
            if (want.Length == 0 && t.Numel == 1) t = t.Reshape();                // 0-d buffers saved with shape [1]
            if (!t.Shape.AsSpan().SequenceEqual(want)) { mismatched.Add($"{theirs}: file {Tensor.ShapeString(t.Shape)}, expected {Tensor.ShapeString(want)}"); continue; }
            mapped[ours] = t;
        }
        if (missing.Count + unknown.Count + mismatched.Count > 0)
        {
            var parts = new List<string>();
            if (unknown.Count > 0) parts.Add($"{unknown.Count} tensors the layout does not expect: {string.Join(", ", unknown.Take(20))}{(unknown.Count > 20 ? ", …" : "")}");
            if (missing.Count > 0) parts.Add($"{missing.Count} expected tensors missing: {string.Join(", ", missing.Take(20))}{(missing.Count > 20 ? ", …" : "")}");
            if (mismatched.Count > 0) parts.Add($"{mismatched.Count} shapes differ: {string.Join("; ", mismatched.Take(10))}");
            throw new ArgumentException($"{path} does not match the {l.Name} layout ({l.Describe}) for the inferred architecture: {string.Join(". ", parts)}. Nothing was written.");
        }
        model.LoadStateDict(mapped);
        if (masks.Count > 0)
        {
            var back = names.ToDictionary(kv => kv.Value, kv => kv.Key);
            var set = new MaskSet();
            foreach (var (theirs, mask) in masks)
            {
                if (!back.TryGetValue(theirs, out var ours)) throw new ArgumentException($"{path}: mask of '{theirs}' belongs to no weight of the model.");
                set.Set(ours, mask.Reshape(own[ours].Shape));
            }
            set.Apply(model);
        }
        string sha;
        using (var fs = File.OpenRead(path)) sha = Convert.ToHexStringLower(SHA256.HashData(fs));
        return new ImportResult(model, l.Name, inferred, notes, sd.Format, path, sha);
    }

    /// <summary>Writes the imported model as an MtlPrune checkpoint, with where it came from in <c>mtlprune.import</c>.</summary>
    public static void Save(ImportResult r, string output)
    {
        var meta = new Dictionary<string, string>
        {
            ["mtlprune.import"] = JsonSerializer.Serialize(new { source = r.Source, sha256 = r.Sha256, format = r.Format, layout = r.Layout, inferred = r.Inferred, notes = r.Notes }),
        };
        Checkpoint.Save(r.Model, output, meta);
    }
}
