using MtlPrune.Engine;
using MtlPrune.Engine.NN;

namespace MtlPrune.Models;

/// <summary>
/// torchvision-style BasicBlock: conv3×3 (stride s) + BN + ReLU + conv3×3 + BN, plus the shortcut (1×1 conv + BN
/// where the shape changes), then ReLU. Convolutions have no bias.
/// </summary>
public sealed class BasicBlock : Module
{
    private readonly Conv2d _conv1, _conv2;
    private readonly BatchNorm2d _bn1, _bn2;
    private readonly Sequential? _downsample;

    public BasicBlock(int inC, int outC, int stride, Rng rng, int dilation = 1)
    {
        _conv1 = RegisterModule("conv1", new Conv2d(inC, outC, 3, stride, dilation, dilation, bias: false, rng: rng));
        _bn1 = RegisterModule("bn1", new BatchNorm2d(outC));
        _conv2 = RegisterModule("conv2", new Conv2d(outC, outC, 3, 1, dilation, dilation, bias: false, rng: rng));
        _bn2 = RegisterModule("bn2", new BatchNorm2d(outC));
        if (stride != 1 || inC != outC)
            _downsample = RegisterModule("downsample", new Sequential(new Conv2d(inC, outC, 1, stride, bias: false, rng: rng), new BatchNorm2d(outC)));
    }

    public override Tensor Forward(Tensor x)
    {
        var y = _bn2.Forward(_conv2.Forward(_bn1.Forward(_conv1.Forward(x)).Relu()));
        var shortcut = _downsample is null ? x : _downsample.Forward(x);
        return Tensor.Add(y, shortcut).Relu();
    }
}

/// <summary>Backbone of <see cref="ResNetMini"/>: stem conv3×3 (3→16) + BN + ReLU, four stages of two BasicBlocks.</summary>
public sealed class ResNetMiniBackbone : Module
{
    private readonly Conv2d _conv1;
    private readonly BatchNorm2d _bn1;
    private readonly Sequential[] _layers;

    public ResNetMiniBackbone(Rng rng, int[]? widths = null, int[]? strides = null, int inChannels = 3)
    {
        widths ??= new[] { 16, 32, 64, 128 };
        strides ??= new[] { 1, 2, 2, 2 };
        _conv1 = RegisterModule("conv1", new Conv2d(inChannels, widths[0], 3, 1, 1, bias: false, rng: rng));
        _bn1 = RegisterModule("bn1", new BatchNorm2d(widths[0]));
        _layers = new Sequential[widths.Length];
        int c = widths[0];
        for (int i = 0; i < widths.Length; i++)
        {
            _layers[i] = RegisterModule($"layer{i + 1}", new Sequential(new BasicBlock(c, widths[i], strides[i], rng), new BasicBlock(widths[i], widths[i], 1, rng)));
            c = widths[i];
        }
        OutChannels = c;
    }

    public int OutChannels { get; }

    public override Tensor Forward(Tensor x)
    {
        x = _bn1.Forward(_conv1.Forward(x)).Relu();
        foreach (var l in _layers) x = l.Forward(x);
        return x;
    }
}

/// <summary>Light dense-prediction head: conv3×3 (→64, no bias) + BN + ReLU + conv1×1 (→C, bias), upsampled bilinearly to the input size.</summary>
public sealed class LightHead : Module
{
    private readonly Conv2d _conv1, _conv2;
    private readonly BatchNorm2d _bn1;

    public LightHead(int inC, int outC, Rng rng, int width = 64)
    {
        _conv1 = RegisterModule("conv1", new Conv2d(inC, width, 3, 1, 1, bias: false, rng: rng));
        _bn1 = RegisterModule("bn1", new BatchNorm2d(width));
        _conv2 = RegisterModule("conv2", new Conv2d(width, outC, 1, rng: rng));
    }

    /// <summary>Head output at the backbone's resolution, before upsampling.</summary>
    public override Tensor Forward(Tensor x) => _conv2.Forward(_bn1.Forward(_conv1.Forward(x)).Relu());

    /// <summary>Head output upsampled to <paramref name="size"/> (bilinear, align_corners false).</summary>
    public Tensor Forward(Tensor x, (int H, int W) size)
    {
        var y = Forward(x);
        return Tensor.Interpolate(y, size.H, size.W, ResizeMode.Bilinear, false);
    }
}

/// <summary>
/// The reference network <c>resnet-mini</c> (922,849 parameters with heads seg 13, depth 1, normal 3): names as
/// PyTorch would give this module tree (<c>backbone.layer2.0.downsample.0.weight</c>, <c>heads.seg.conv2.bias</c>).
/// Convolutions are Kaiming-normal (fan_out), BN weight 1 and bias 0.
/// </summary>
public sealed class ResNetMini : Module
{
    public ResNetMiniBackbone Backbone { get; }
    public IReadOnlyList<(string Task, LightHead Head)> Heads { get; }

    public ResNetMini(Rng rng, IReadOnlyList<(string Task, int Channels)>? tasks = null)
    {
        tasks ??= new[] { ("seg", 13), ("depth", 1), ("normal", 3) };
        Backbone = RegisterModule("backbone", new ResNetMiniBackbone(rng));
        var dict = RegisterModule("heads", new ModuleDict());
        var heads = new List<(string, LightHead)>();
        foreach (var (t, c) in tasks)
        {
            var h = new LightHead(Backbone.OutChannels, c, rng);
            dict.Add(t, h);
            heads.Add((t, h));
        }
        Heads = heads;
        foreach (var (_, m) in NamedModules())
            if (m is Conv2d conv) Init.KaimingNormal(conv.Weight, rng, FanMode.FanOut);
    }

    /// <summary>Outputs per task at the input resolution.</summary>
    public Dictionary<string, Tensor> ForwardAll(Tensor x)
    {
        var f = Backbone.Forward(x);
        var size = (x.Shape[2], x.Shape[3]);
        return Heads.ToDictionary(h => h.Task, h => h.Head.Forward(f, size));
    }
}
