using System.Text.Json.Serialization;
using MtlPrune.Engine;

namespace MtlPrune.Tasks;

/// <summary>What a task predicts; decides its loss, its metrics and how its targets are read.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<TaskKind>))]
public enum TaskKind { Segmentation, Depth, Normals, Keypoints, Edges, Classification }

/// <summary>
/// One task of a multi-task model: its name (the key of its head, target and outputs), kind, number of output
/// channels (classes for segmentation and classification), the label ignored by segmentation losses and metrics, and
/// optional class weights for the cross-entropy.
/// </summary>
public sealed record TaskSpec(string Name, TaskKind Kind, int Channels, int IgnoreIndex = 255, float[]? ClassWeights = null)
{
    /// <summary>Whether predictions are per pixel (all kinds but classification).</summary>
    [JsonIgnore] public bool IsDense => Kind != TaskKind.Classification;

    /// <summary>
    /// The task's training loss (the unweighted L_k of methods.md §1.2): cross-entropy with ignore index for
    /// segmentation and classification; L1 over valid pixels (target &gt; 0) for depth; 1 − cosine over valid pixels
    /// (target not all zero) for normals, after L2-normalising the prediction; L1 over pixels whose target is not the
    /// ignore value for keypoints and edges.
    /// </summary>
    public Tensor Loss(Tensor prediction, Tensor target)
    {
        switch (Kind)
        {
            case TaskKind.Segmentation:
            case TaskKind.Classification:
                return Engine.Loss.CrossEntropy(prediction, target, IgnoreIndex, ClassWeights is null ? null : Tensor.FromArray(ClassWeights, ClassWeights.Length));
            case TaskKind.Depth:
                return Engine.Loss.L1(prediction, target, ValidMask.Positive(target));
            case TaskKind.Normals:
                return Engine.Loss.Normal(Tensor.L2Normalize(prediction), target, ValidMask.NonZeroVector(target));
            default:
                return Engine.Loss.L1(prediction, target, ValidMask.NotEqual(target, IgnoreIndex));
        }
    }

    /// <summary>A fresh metric accumulator for this task.</summary>
    public ITaskMetric CreateMetric(MetricConventions? conventions = null) => Kind switch
    {
        TaskKind.Segmentation => new SegmentationMetric(Channels, IgnoreIndex, conventions ?? MetricConventions.Default),
        TaskKind.Classification => new ClassificationMetric(IgnoreIndex),
        TaskKind.Depth => new DepthMetric(),
        TaskKind.Normals => new NormalMetric(),
        _ => new L1Metric(IgnoreIndex),
    };
}

/// <summary>Validity masks derived from targets.</summary>
public static class ValidMask
{
    /// <summary>1 where target &gt; 0 (depth: 0 means missing).</summary>
    public static Tensor Positive(Tensor target)
    {
        var m = Tensor.Zeros(target.Shape);
        var t = target.Contiguous().Span; var ms = m.Span;
        for (int i = 0; i < t.Length; i++) ms[i] = t[i] > 0 ? 1f : 0f;
        return m;
    }

    /// <summary>1 where the target is not <paramref name="value"/>.</summary>
    public static Tensor NotEqual(Tensor target, float value)
    {
        var m = Tensor.Zeros(target.Shape);
        var t = target.Contiguous().Span; var ms = m.Span;
        for (int i = 0; i < t.Length; i++) ms[i] = t[i] != value ? 1f : 0f;
        return m;
    }

    /// <summary>[N, 1, ...]: 1 where the target vector over channel 1 is not all zeros (normals: zero means missing).</summary>
    public static Tensor NonZeroVector(Tensor target)
    {
        int n = target.Shape[0], c = target.Shape[1], s = target.Numel / (n * c);
        var shape = (int[])target.Shape.Clone(); shape[1] = 1;
        var m = Tensor.Zeros(shape);
        var t = target.Contiguous().Span; var ms = m.Span;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < s; j++)
            {
                bool any = false;
                for (int ch = 0; ch < c && !any; ch++) any = t[(i * c + ch) * s + j] != 0;
                ms[i * s + j] = any ? 1f : 0f;
            }
        return m;
    }
}
