using MtlPrune.Engine;
using MtlPrune.Tasks;

namespace MtlPrune.Data;

/// <summary>
/// One example: the image [3, H, W] and a target per task (segmentation and classification labels as integral floats
/// [H, W] or []; depth, edges, keypoints [1, H, W]; normals [3, H, W]).
/// </summary>
public sealed record Sample(Tensor Image, IReadOnlyDictionary<string, Tensor> Targets);

/// <summary>A finite, indexable data split (~ <c>torch.utils.data.Dataset</c>).</summary>
public interface IDataset
{
    string Name { get; }
    int Count { get; }
    /// <summary>The tasks whose targets every sample carries.</summary>
    IReadOnlyList<TaskSpec> Tasks { get; }
    /// <summary>The sample at <paramref name="index"/>; the same index gives the same sample.</summary>
    Sample Get(int index);
}
