namespace MtlPrune.Engine.NN;

/// <summary>
/// Batch normalisation over channels (~ <c>nn.BatchNorm2d</c>): weight 1, bias 0, running_mean 0,
/// running_var 1, num_batches_tracked 0 (stored as I64 in files, as PyTorch does).
/// </summary>
public sealed class BatchNorm2d : Module
{
    public int NumFeatures { get; }
    public float Eps { get; }
    public float Momentum { get; }
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }
    public Tensor RunningMean { get; }
    public Tensor RunningVar { get; }
    public Tensor NumBatchesTracked { get; }

    public BatchNorm2d(int numFeatures, float eps = 1e-5f, float momentum = 0.1f, bool affine = true)
    {
        if (numFeatures < 1) throw new ArgumentException($"BatchNorm2d: invalid feature count {numFeatures}.");
        NumFeatures = numFeatures; Eps = eps; Momentum = momentum;
        if (affine)
        {
            Weight = RegisterParameter("weight", Tensor.Ones(numFeatures));
            Bias = RegisterParameter("bias", Tensor.Zeros(numFeatures));
        }
        RunningMean = RegisterBuffer("running_mean", Tensor.Zeros(numFeatures));
        RunningVar = RegisterBuffer("running_var", Tensor.Ones(numFeatures));
        NumBatchesTracked = RegisterBuffer("num_batches_tracked", Tensor.Zeros()); // shape []
        NumBatchesTracked.FileDType = DType.I64;
    }

    public override Tensor Forward(Tensor x) => Forward(x, relu: false);

    /// <summary>Batch norm, followed by ReLU in the same pass when <paramref name="relu"/> (see <see cref="Tensor.BatchNormRelu"/>).</summary>
    public Tensor Forward(Tensor x, bool relu)
    {
        if (x.Rank != 4 || x.Shape[1] != NumFeatures)
            throw new ArgumentException($"BatchNorm2d({NumFeatures}): expected input [N, {NumFeatures}, H, W], got {Tensor.ShapeString(x.Shape)}.");
        if (Training) NumBatchesTracked.Fill_(NumBatchesTracked.Item() + 1);
        return relu ? Tensor.BatchNormRelu(x, Weight, Bias, RunningMean, RunningVar, Training, Momentum, Eps)
                    : Tensor.BatchNorm(x, Weight, Bias, RunningMean, RunningVar, Training, Momentum, Eps);
    }
}
