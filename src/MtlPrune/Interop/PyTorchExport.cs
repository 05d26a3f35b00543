using MtlPrune.Engine;
using MtlPrune.Engine.IO;
using MtlPrune.Models;
using MtlPrune.Pruning;

namespace MtlPrune.Interop;

/// <summary>How an export stores a pruned model's masks.</summary>
public enum ExportMasks
{
    /// <summary>Plain weights with pruned entries 0: loads with <c>load_state_dict</c> into the unpruned PyTorch model.</summary>
    None,
    /// <summary><c>torch.nn.utils.prune</c>'s <c>&lt;name&gt;_orig</c> + <c>&lt;name&gt;_mask</c>: loads after <c>prune.identity</c> on each
    /// pruned layer, so masks keep working in further PyTorch training.</summary>
    Torch,
}

/// <summary>
/// Writes an MtlPrune model as a safetensors file with another codebase's names (<see cref="ITensorLayout"/>), so that
/// the user's own PyTorch code loads it (<c>safetensors.torch.load_file</c> + <c>load_state_dict</c>). Pruned weights are
/// exactly 0; masks are written only with <see cref="ExportMasks.Torch"/>. Integer buffers keep their type
/// (<c>num_batches_tracked</c> as I64).
/// </summary>
public static class PyTorchExport
{
    public static void Write(MultiTaskModel model, ITensorLayout layout, string path, ExportMasks masks = ExportMasks.None)
    {
        var names = layout.Names(model);
        var own = model.StateDict();
        var set = MaskSet.FromModel(model);
        var entries = new List<KeyValuePair<string, Tensor>>();
        foreach (var (ours, t) in own)
        {
            var theirs = names[ours];
            // Only conv and linear weights get torch.nn.utils.prune's weight_orig + weight_mask; other masked parameters
            // (a pruned filter's batch norm γ and β) are written as their values, which are 0 where pruned.
            if (masks == ExportMasks.Torch && set.TryGet(ours, out var m) && MaskSet.IsLayerWeight(model, ours))
            {
                var mask = m.CloneData(); mask.FileDType = DType.F32;
                entries.Add(new(theirs + "_orig", t));
                entries.Add(new(theirs + "_mask", mask));
            }
            else entries.Add(new(theirs, t));
        }
        SafeTensors.Write(path, entries, new Dictionary<string, string> { ["format"] = "pt", ["mtlprune.layout"] = layout.Name });
    }
}
