using MtlPrune.Engine;
using MtlPrune.Tasks;

namespace MtlPrune.Training;

/// <summary>Targets as the losses see them.</summary>
public static class LossTargets
{
    /// <summary>
    /// Dense targets larger than a 1/8-resolution prediction (DeepLab heads) are nearest-downsampled to it, as the
    /// DeepLab codebases compute their losses (methods.md §1.2); other targets are returned unchanged.
    /// </summary>
    public static Tensor For(Tensor prediction, Tensor target, TaskSpec task)
    {
        if (!task.IsDense || prediction.Rank != 4) return target;
        int h = prediction.Shape[2], w = prediction.Shape[3];
        if (target.Shape[^2] == h && target.Shape[^1] == w) return target;
        bool labels = target.Rank == 3;
        var t4 = labels ? target.Reshape(target.Shape[0], 1, target.Shape[1], target.Shape[2]) : target;
        var r = Tensor.Interpolate(t4, h, w, ResizeMode.Nearest);
        return labels ? r.Reshape(target.Shape[0], h, w) : r;
    }

    /// <summary>The unweighted loss L_k of <paramref name="task"/> for a batch's prediction.</summary>
    public static Tensor Loss(TaskSpec task, Tensor prediction, Tensor target) => task.Loss(prediction, For(prediction, target, task));
}
