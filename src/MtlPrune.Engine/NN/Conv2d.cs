namespace MtlPrune.Engine.NN;

/// <summary>2-D convolution layer (~ <c>nn.Conv2d</c>); weight [out, in/groups, k, k], optional bias [out].</summary>
public sealed class Conv2d : Module, IWeightedLayer
{
    public int InChannels { get; }
    public int OutChannels { get; }
    public (int H, int W) KernelSize { get; }
    public (int H, int W) Stride { get; }
    public (int H, int W) Padding { get; }
    public (int H, int W) Dilation { get; }
    public int Groups { get; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }
    /// <inheritdoc/>
    public IWeightParametrization? Parametrization { get; set; }
    /// <inheritdoc/>
    public Action<IWeightedLayer, Tensor, Tensor>? ForwardHook { get; set; }

    /// <summary>Creates the layer with PyTorch's default initialisation drawn from <paramref name="rng"/> (or <see cref="Init.DefaultRng"/>).</summary>
    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1,
        int groups = 1, bool bias = true, Rng? rng = null)
        : this(inChannels, outChannels, (kernelSize, kernelSize), (stride, stride), (padding, padding), (dilation, dilation), groups, bias, rng) { }

    public Conv2d(int inChannels, int outChannels, (int H, int W) kernelSize, (int H, int W) stride, (int H, int W) padding,
        (int H, int W) dilation, int groups = 1, bool bias = true, Rng? rng = null)
    {
        if (inChannels < 1 || outChannels < 1 || groups < 1 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"Conv2d: channels {inChannels}->{outChannels} are not divisible by groups={groups}.");
        InChannels = inChannels; OutChannels = outChannels; KernelSize = kernelSize; Stride = stride; Padding = padding;
        Dilation = dilation; Groups = groups;
        Weight = RegisterParameter("weight", Tensor.Zeros(outChannels, inChannels / groups, kernelSize.H, kernelSize.W));
        if (bias) Bias = RegisterParameter("bias", Tensor.Zeros(outChannels));
        else RegisterNullParameter("bias");
        Init.PyTorchDefault(Weight, Bias, rng ?? Init.DefaultRng);
    }

    /// <inheritdoc/>
    public Tensor EffectiveWeight() => Parametrization?.Apply(Weight) ?? Weight;

    public override Tensor Forward(Tensor x)
    {
        var y = Tensor.Conv2d(x, EffectiveWeight(), Bias, Stride, Padding, Dilation, Groups);
        ForwardHook?.Invoke(this, x, y);
        return y;
    }
}

/// <summary>Fully connected layer y = x·Wᵀ + b (~ <c>nn.Linear</c>).</summary>
public sealed class Linear : Module, IWeightedLayer
{
    public Tensor Weight { get; }
    public Tensor? Bias { get; }
    /// <inheritdoc/>
    public IWeightParametrization? Parametrization { get; set; }
    /// <inheritdoc/>
    public Action<IWeightedLayer, Tensor, Tensor>? ForwardHook { get; set; }

    public Linear(int inFeatures, int outFeatures, bool bias = true, Rng? rng = null)
    {
        if (inFeatures < 1 || outFeatures < 1) throw new ArgumentException($"Linear: invalid sizes {inFeatures}->{outFeatures}.");
        Weight = RegisterParameter("weight", Tensor.Zeros(outFeatures, inFeatures));
        if (bias) Bias = RegisterParameter("bias", Tensor.Zeros(outFeatures));
        else RegisterNullParameter("bias");
        Init.PyTorchDefault(Weight, Bias, rng ?? Init.DefaultRng);
    }

    /// <inheritdoc/>
    public Tensor EffectiveWeight() => Parametrization?.Apply(Weight) ?? Weight;

    /// <summary>Accepts [N, in]; higher-rank inputs are flattened from dimension 1 first.</summary>
    public override Tensor Forward(Tensor x)
    {
        var y = Tensor.Linear(x.Rank == 2 ? x : x.Flatten(1), EffectiveWeight(), Bias);
        ForwardHook?.Invoke(this, x, y);
        return y;
    }
}
