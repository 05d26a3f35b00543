using System.Globalization;
using MtlPrune.Engine.IO;
using MtlPrune.Models;
using MtlPrune.Training;

namespace MtlPrune.Deploy;

/// <summary>One weighted layer of an inspected model: its weight, how it is stored, and its multiply-accumulates per image.</summary>
public sealed record InspectedLayer(string Layer, string Op, int[] Shape, long Weights, long Nonzeros, string Storage, long StoredBytes, long Macs, long NonzeroMacs)
{
    public double Density => Weights == 0 ? 0 : (double)Nonzeros / Weights;
}

/// <summary>What <c>mtlprune inspect</c> shows about a checkpoint or a <c>.mtlp</c> file.</summary>
public sealed record ModelInspection(string File, string Kind, string Model, IReadOnlyList<string> Tasks, int InputHeight, int InputWidth, string InputSizeSource,
    IReadOnlyList<InspectedLayer> Layers, long FileBytes, long DenseFp32Bytes, IReadOnlyDictionary<string, string> Metadata)
{
    public long Weights => Layers.Sum(l => l.Weights);
    public long Nonzeros => Layers.Sum(l => l.Nonzeros);
    public long Macs => Layers.Sum(l => l.Macs);
    public long NonzeroMacs => Layers.Sum(l => l.NonzeroMacs);
    public double FileShareOfDense => (double)FileBytes / DenseFp32Bytes;

    /// <summary>
    /// Inspects <paramref name="path"/>: an MtlPrune checkpoint (or a directory holding pruned.safetensors or best.safetensors)
    /// or a <c>.mtlp</c> file. MACs are counted for one image of <paramref name="inputSize"/>, else of the size the file
    /// records, else 224×224. The dense reference is the same model (same tasks) with every tensor in fp32.
    /// </summary>
    public static ModelInspection Of(string path, (int H, int W)? inputSize = null)
    {
        bool mtlp = System.IO.File.Exists(path) && IsMtlp(path);
        string file = mtlp ? path : Checkpoint.Resolve(path);
        InferenceGraph g;
        Dictionary<string, (string Storage, long Bytes)> storage;
        IReadOnlyDictionary<string, string> meta;
        string kind;
        (int, int)? recorded;
        if (mtlp)
        {
            g = MtlpFile.Read(file, out var table);
            storage = table.ToDictionary(t => t.Name, t => ($"{t.Encoding} {t.DType}", t.Length));
            meta = g.Metadata;
            kind = g.Metadata.ContainsKey("structured") ? "compact model (.mtlp, channels compacted)" : "compact model (.mtlp)";
            recorded = int.TryParse(meta.GetValueOrDefault("inputHeight"), out int h) && int.TryParse(meta.GetValueOrDefault("inputWidth"), out int w) ? (h, w) : null;
        }
        else
        {
            var (model, m) = Checkpoint.Load(file);
            model.Eval();
            g = ModelLowering.Lower(model);
            var masks = Pruning.MaskSet.FromModel(model);
            storage = g.Tensors.ToDictionary(kv => kv.Key, kv => masks.TryGet(kv.Key, out _) ? ("f32 + u8 mask", kv.Value.Numel * 5) : ("f32", kv.Value.Numel * 4));
            meta = m;
            kind = masks.Count > 0 ? "pruned checkpoint (masked)" : "checkpoint (dense)";
            var config = TrainConfig.FromMetadata(m, file);
            recorded = config is { Data: "scenes" } ? (config.Size, config.Size) : null;
        }
        var (ih, iw) = inputSize ?? recorded ?? (224, 224);
        string sizeSource = inputSize is not null ? "--input-size" : recorded is not null ? "recorded in the file" : "default";
        var shapes = g.Shapes(1, ih, iw);
        var layers = new List<InspectedLayer>();
        foreach (var n in g.Nodes.Where(n => n.Op is GraphOp.Conv or GraphOp.Linear))
        {
            var t = g.Tensors[n.Weight!];
            var o = shapes[n.Output];
            long plane = o.Length == 4 ? (long)o[2] * o[3] : 1;
            var (st, bytes) = storage.GetValueOrDefault(n.Weight!, ("f32", t.Numel * 4));
            layers.Add(new InspectedLayer(n.Name ?? n.Weight!, n.Op == GraphOp.Conv ? (n.Groups > 1 ? $"conv g={n.Groups}" : "conv") : "linear",
                t.Shape, t.Numel, t.Nonzeros, st, bytes, t.Numel * plane, t.Nonzeros * plane));
        }
        var spec = g.Spec with { Tasks = g.Spec.Tasks.Where(x => g.Outputs.Any(o => o.Key == x.Name)).ToArray() };
        long dense = 4L * ModelFactory.Build(spec).StateDict().Values.Sum(v => (long)v.Numel);
        return new ModelInspection(file, kind, g.Spec.Name, g.Outputs.Select(o => o.Key).ToList(), ih, iw, sizeSource, layers,
            new FileInfo(file).Length, dense, meta.Where(kv => kv.Key != Checkpoint.ModelKey && kv.Key != "mtlprune.config").ToDictionary(kv => kv.Key, kv => kv.Value));
    }

    private static bool IsMtlp(string path)
    {
        using var f = System.IO.File.OpenRead(path);
        Span<byte> b = stackalloc byte[4];
        return f.Read(b) == 4 && b.SequenceEqual("MTLP"u8);
    }

    /// <summary>The size of the file against the dense fp32 model, as a sentence.</summary>
    public string SizeLine() => string.Create(CultureInfo.InvariantCulture,
        $"file {FileBytes / 1048576.0:F2} MiB = {FileShareOfDense:P1} of the dense fp32 model ({DenseFp32Bytes / 1048576.0:F2} MiB); " +
        $"weights {Nonzeros:N0} of {Weights:N0} nonzero ({1 - (double)Nonzeros / Weights:P1} sparse); MACs per {InputHeight}×{InputWidth} image {NonzeroMacs:N0} of {Macs:N0} ({(double)Macs / Math.Max(1, NonzeroMacs):F1}× fewer)");
}
