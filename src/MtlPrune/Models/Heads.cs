using MtlPrune.Engine;
using MtlPrune.Engine.NN;

namespace MtlPrune.Models;

/// <summary>Light dense head: conv3×3 (→ width, no bias) + BN + ReLU + conv1×1 (→ C, bias).</summary>
public sealed class LightHead : TaskHead
{
    private readonly Conv2d _conv1, _conv2;
    private readonly BatchNorm2d _bn1;

    public LightHead(int inC, int outC, Rng rng, int width = 64)
    {
        _conv1 = RegisterModule("conv1", new Conv2d(inC, width, 3, 1, 1, bias: false, rng: rng));
        _bn1 = RegisterModule("bn1", new BatchNorm2d(width));
        _conv2 = RegisterModule("conv2", new Conv2d(width, outC, 1, rng: rng));
    }

    public override Tensor Forward(Tensor x) => _conv2.Forward(_bn1.Forward(_conv1.Forward(x), relu: true));

    public Conv2d Conv1 => _conv1;
    public BatchNorm2d Bn1 => _bn1;
    public Conv2d Conv2 => _conv2;
}

/// <summary>
/// DeepLab-v2 ASPP head (methods.md §7.2): the sum over rates r of conv3×3 (dilation r, → width, bias) + ReLU + Dropout
/// + conv1×1 (width → width, bias) + ReLU + Dropout + conv1×1 (width → C, bias).
/// </summary>
public sealed class AsppHead : TaskHead
{
    private readonly List<(Conv2d A, Conv2d B, Conv2d C)> _branches = new();
    private readonly Dropout _drop;

    public AsppHead(int inC, int outC, Rng rng, int width = 1024, int[]? rates = null, float dropout = 0.5f)
    {
        rates ??= new[] { 6, 12, 18, 24 };
        var list = RegisterModule("branches", new ModuleList());
        foreach (var r in rates)
        {
            var a = new Conv2d(inC, width, 3, 1, r, r, rng: rng);
            var b = new Conv2d(width, width, 1, rng: rng);
            var c = new Conv2d(width, outC, 1, rng: rng);
            list.Add(new Sequential(a, b, c));
            _branches.Add((a, b, c));
        }
        _drop = RegisterModule("dropout", new Dropout(dropout, rng));
    }

    /// <summary>Each branch's three convolutions (dilated 3×3, 1×1, 1×1).</summary>
    public IReadOnlyList<(Conv2d A, Conv2d B, Conv2d C)> Branches => _branches;

    public override Tensor Forward(Tensor x)
    {
        Tensor? sum = null;
        foreach (var (a, b, c) in _branches)
        {
            var y = c.Forward(_drop.Forward(b.Forward(_drop.Forward(a.Forward(x).Relu())).Relu()));
            sum = sum is null ? y : Tensor.Add(sum, y);
        }
        return sum!;
    }
}

/// <summary>Classification head: global average pooling + linear layer; outputs [N, C].</summary>
public sealed class ClassificationHead : TaskHead
{
    private readonly Linear _fc;

    public ClassificationHead(int inC, int classes, Rng rng) => _fc = RegisterModule("fc", new Linear(inC, classes, rng: rng));

    public Linear Fc => _fc;

    public override Tensor Forward(Tensor x) => _fc.Forward(Tensor.GlobalAvgPool2d(x).Flatten(1));
    public override Tensor Predict(Tensor features, (int H, int W) inputSize) => Forward(features);
}
