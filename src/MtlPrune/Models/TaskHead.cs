using MtlPrune.Engine;

namespace MtlPrune.Models;

/// <summary>A task-specific head: maps backbone features to the task's prediction.</summary>
public abstract class TaskHead : Engine.NN.Module
{
    /// <summary>Whether dense outputs are bilinearly upsampled (align_corners false) to the input size.</summary>
    public bool UpsampleToInput { get; init; } = true;

    /// <summary>The head's output at the backbone's resolution (or [N, C] for classification).</summary>
    public abstract override Tensor Forward(Tensor features);

    /// <summary>The prediction for an input of size <paramref name="inputSize"/>.</summary>
    public virtual Tensor Predict(Tensor features, (int H, int W) inputSize)
    {
        var y = Forward(features);
        if (!UpsampleToInput || y.Rank != 4 || (y.Shape[2] == inputSize.H && y.Shape[3] == inputSize.W)) return y;
        return Tensor.Interpolate(y, inputSize.H, inputSize.W, ResizeMode.Bilinear, false);
    }
}
