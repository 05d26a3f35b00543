using System.Globalization;
using MtlPrune.Models;
using MtlPrune.Training;

namespace MtlPrune.Deploy;

/// <summary>
/// A checkpoint's model as the graph a <c>.mtlp</c> file stores: lowered in eval mode, batch norm folded into the
/// convolutions, activations fused, optionally channel-compacted, with the facts a deployment needs in its metadata
/// (source file, model, tasks, input preprocessing and size, the pruning record).
/// </summary>
public static class CompactExport
{
    /// <param name="model">The model, pruned or not; it is put in eval mode and lowered.</param>
    /// <param name="metadata">The checkpoint's metadata: its training configuration (data set, input size) and pruning record are carried over.</param>
    /// <param name="source">The checkpoint file, recorded by name.</param>
    /// <param name="inputSize">The input size to plan for at load; default: the training size of the built-in scenes, none otherwise.</param>
    /// <param name="structured">Also remove all-zero channels (<see cref="ChannelCompaction"/>).</param>
    public static InferenceGraph Build(MultiTaskModel model, IReadOnlyDictionary<string, string> metadata, string source, (int H, int W)? inputSize = null, bool structured = false)
    {
        model.Eval();
        var g = GraphPasses.Optimize(ModelLowering.Lower(model));
        if (structured) g = ChannelCompaction.Compact(g);
        var config = TrainConfig.FromMetadata(metadata, source);
        g.Metadata["source"] = Path.GetFileName(source);
        g.Metadata["model"] = model.Spec.Name;
        g.Metadata["tasks"] = string.Join(",", model.Tasks.Select(t => t.Name));
        if (config?.Data is { } data) g.Metadata["data"] = data;
        InputPreprocessing.ForDataset(config?.Data).WriteTo(g.Metadata);
        var size = inputSize ?? (config is { Data: "scenes" } ? (config.Size, config.Size) : null);
        if (size is { } s)
        {
            g.Metadata["inputHeight"] = s.H.ToString(CultureInfo.InvariantCulture);
            g.Metadata["inputWidth"] = s.W.ToString(CultureInfo.InvariantCulture);
        }
        if (metadata.TryGetValue("mtlprune.pruning", out var pruning)) g.Metadata["pruning"] = pruning;
        if (structured) g.Metadata["structured"] = "true";
        return g;
    }
}
