namespace MtlPrune.Engine.NN;

/// <summary>max(x, 0) (~ <c>nn.ReLU</c>).</summary>
public sealed class ReLU : Module { public override Tensor Forward(Tensor x) => x.Relu(); }

/// <summary>min(max(x, 0), 6) (~ <c>nn.ReLU6</c>).</summary>
public sealed class ReLU6 : Module { public override Tensor Forward(Tensor x) => x.Relu6(); }

/// <summary>Returns its input (~ <c>nn.Identity</c>).</summary>
public sealed class Identity : Module { public override Tensor Forward(Tensor x) => x; }

/// <summary>Flattens from dimension 1 (~ <c>nn.Flatten</c>).</summary>
public sealed class Flatten : Module { public override Tensor Forward(Tensor x) => x.Flatten(1); }

/// <summary>2-D max pooling (~ <c>nn.MaxPool2d</c>); stride defaults to the kernel size.</summary>
public sealed class MaxPool2d(int kernelSize, int? stride = null, int padding = 0, bool ceilMode = false, int dilation = 1) : Module
{
    public override Tensor Forward(Tensor x) =>
        Tensor.MaxPool2d(x, (kernelSize, kernelSize), (stride ?? kernelSize, stride ?? kernelSize), (padding, padding), ceilMode, (dilation, dilation));
}

/// <summary>2-D average pooling (~ <c>nn.AvgPool2d</c>); stride defaults to the kernel size.</summary>
public sealed class AvgPool2d(int kernelSize, int? stride = null, int padding = 0, bool ceilMode = false, bool countIncludePad = true) : Module
{
    public override Tensor Forward(Tensor x) =>
        Tensor.AvgPool2d(x, (kernelSize, kernelSize), (stride ?? kernelSize, stride ?? kernelSize), (padding, padding), ceilMode, countIncludePad);
}

/// <summary>Adaptive average pooling to a fixed output size (~ <c>nn.AdaptiveAvgPool2d</c>).</summary>
public sealed class AdaptiveAvgPool2d(int outH, int outW) : Module
{
    public AdaptiveAvgPool2d(int size) : this(size, size) { }
    public override Tensor Forward(Tensor x) => Tensor.AdaptiveAvgPool2d(x, outH, outW);
}

/// <summary>
/// Dropout (~ <c>nn.Dropout</c>), active only in training mode. Its own generator is seeded at construction,
/// so a model built with the same seed drops the same elements.
/// </summary>
public sealed class Dropout : Module
{
    private readonly Rng _rng;
    public float P { get; }

    public Dropout(float p = 0.5f, Rng? rng = null)
    {
        if (p < 0 || p > 1) throw new ArgumentException($"Dropout: probability {p} must be in [0, 1].");
        P = p; _rng = (rng ?? Init.DefaultRng).Fork();
    }

    public override Tensor Forward(Tensor x) => Tensor.Dropout(x, P, Training, _rng);
}

/// <summary>
/// Resizes to a fixed size or by a scale factor (~ <c>nn.Upsample</c>). Give either a size or a scale factor.
/// </summary>
public sealed class Upsample : Module
{
    private readonly (int H, int W)? _size;
    private readonly double? _scale;
    private readonly ResizeMode _mode;
    private readonly bool _alignCorners;

    public Upsample((int H, int W)? size = null, double? scaleFactor = null, ResizeMode mode = ResizeMode.Nearest, bool alignCorners = false)
    {
        if ((size is null) == (scaleFactor is null)) throw new ArgumentException("Upsample: give exactly one of size and scaleFactor.");
        if (scaleFactor is <= 0) throw new ArgumentException($"Upsample: scale factor {scaleFactor} must be positive.");
        _size = size; _scale = scaleFactor; _mode = mode; _alignCorners = alignCorners;
    }

    public override Tensor Forward(Tensor x)
    {
        if (_size is { } s) return Tensor.Interpolate(x, s.H, s.W, _mode, _alignCorners);
        double f = _scale!.Value;
        int h = (int)Math.Floor(x.Shape[2] * f), w = (int)Math.Floor(x.Shape[3] * f);
        return _alignCorners ? Tensor.Interpolate(x, h, w, _mode, true) : Tensor.Interpolate(x, h, w, _mode, false, f, f);
    }
}
