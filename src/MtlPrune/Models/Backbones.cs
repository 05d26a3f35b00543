using MtlPrune.Engine;
using MtlPrune.Engine.NN;

namespace MtlPrune.Models;

/// <summary>A shared feature extractor with a known output channel count.</summary>
public abstract class Backbone : Module
{
    public abstract int OutChannels { get; }
}

/// <summary>
/// torchvision-style BasicBlock: conv3×3 (stride s, dilation d) + BN + ReLU + conv3×3 (dilation d) + BN, plus the
/// shortcut (1×1 conv + BN where the shape changes), then ReLU. Convolutions have no bias.
/// </summary>
public sealed class BasicBlock : Module
{
    private readonly Conv2d _conv1, _conv2;
    private readonly BatchNorm2d _bn1, _bn2;
    private readonly Sequential? _downsample;

    /// <param name="inC">Input channels.</param>
    /// <param name="outC">Output channels.</param>
    /// <param name="stride">Stride of the first 3×3 convolution and of the shortcut.</param>
    /// <param name="rng">Initialisation of the weights.</param>
    /// <param name="dilation">Dilation (and padding) of both 3×3 convolutions.</param>
    /// <param name="downsample">Whether the block has a 1×1 conv + BN shortcut; by default when the shape changes.</param>
    public BasicBlock(int inC, int outC, int stride, Rng rng, int dilation = 1, bool? downsample = null)
    {
        _conv1 = RegisterModule("conv1", new Conv2d(inC, outC, 3, stride, dilation, dilation, bias: false, rng: rng));
        _bn1 = RegisterModule("bn1", new BatchNorm2d(outC));
        _conv2 = RegisterModule("conv2", new Conv2d(outC, outC, 3, 1, dilation, dilation, bias: false, rng: rng));
        _bn2 = RegisterModule("bn2", new BatchNorm2d(outC));
        if (downsample ?? (stride != 1 || inC != outC))
            _downsample = RegisterModule("downsample", new Sequential(new Conv2d(inC, outC, 1, stride, bias: false, rng: rng), new BatchNorm2d(outC)));
    }

    public Conv2d Conv1 => _conv1;
    public BatchNorm2d Bn1 => _bn1;
    public Conv2d Conv2 => _conv2;
    public BatchNorm2d Bn2 => _bn2;
    /// <summary>The shortcut's 1×1 conv and BN, or null for the identity.</summary>
    public (Conv2d Conv, BatchNorm2d Bn)? Downsample => _downsample is null ? null : ((Conv2d)_downsample[0], (BatchNorm2d)_downsample[1]);

    public override Tensor Forward(Tensor x)
    {
        var y = _bn2.Forward(_conv2.Forward(_bn1.Forward(_conv1.Forward(x), relu: true)));
        var shortcut = _downsample is null ? x : _downsample.Forward(x);
        return Tensor.AddRelu(y, shortcut);
    }
}

/// <summary>
/// ResNet of BasicBlocks. Stem "mini": conv3×3 s1 + BN + ReLU (resnet-mini). Stem "deeplab": conv7×7 s2 p3 + BN + ReLU +
/// max-pool 3×3 s2 p1 in ceil mode (DeepLab-ResNet34, methods.md §7.1). Every block of a stage uses that stage's dilation.
/// </summary>
public sealed class ResNetBackbone : Backbone
{
    private readonly Conv2d _conv1;
    private readonly BatchNorm2d _bn1;
    private readonly bool _deeplabStem;
    private readonly Sequential[] _layers;
    private readonly int _out;

    public ResNetBackbone(Rng rng, int[] widths, int[] blocks, int[] strides, int[] dilations, string stem = "mini", int inChannels = 3)
    {
        if (widths.Length != blocks.Length || widths.Length != strides.Length || widths.Length != dilations.Length)
            throw new ArgumentException("ResNet backbone: widths, blocks, strides and dilations must have the same length.");
        _deeplabStem = stem switch { "mini" => false, "deeplab" => true, _ => throw new ArgumentException($"Unknown ResNet stem '{stem}' (mini, deeplab).") };
        _conv1 = RegisterModule("conv1", _deeplabStem
            ? new Conv2d(inChannels, widths[0], 7, 2, 3, bias: false, rng: rng)
            : new Conv2d(inChannels, widths[0], 3, 1, 1, bias: false, rng: rng));
        _bn1 = RegisterModule("bn1", new BatchNorm2d(widths[0]));
        _layers = new Sequential[widths.Length];
        int c = widths[0];
        for (int i = 0; i < widths.Length; i++)
        {
            var seq = new Sequential();
            for (int b = 0; b < blocks[i]; b++)
                // As in the DeepLab codebases: only a stage's first block gets a downsample, when it changes the shape
                // or the stage is dilated.
                seq.Add(new BasicBlock(b == 0 ? c : widths[i], widths[i], b == 0 ? strides[i] : 1, rng, dilations[i],
                    downsample: b == 0 && (strides[i] != 1 || c != widths[i] || dilations[i] != 1)));
            _layers[i] = RegisterModule($"layer{i + 1}", seq);
            c = widths[i];
        }
        _out = c;
    }

    public override int OutChannels => _out;
    public Conv2d Conv1 => _conv1;
    public BatchNorm2d Bn1 => _bn1;
    /// <summary>Whether the stem ends with DeepLab's 3×3 stride-2 ceil-mode max pooling.</summary>
    public bool DeepLabStem => _deeplabStem;
    public IEnumerable<BasicBlock> Blocks => _layers.SelectMany(l => Enumerable.Range(0, l.Count).Select(i => (BasicBlock)l[i]));

    public override Tensor Forward(Tensor x)
    {
        x = _bn1.Forward(_conv1.Forward(x), relu: true);
        if (_deeplabStem) x = Tensor.MaxPool2d(x, (3, 3), (2, 2), (1, 1), ceilMode: true);
        foreach (var l in _layers) x = l.Forward(x);
        return x;
    }
}

/// <summary>MobileNetV2 inverted residual: [1×1 expand + BN + ReLU6] + depthwise 3×3 + BN + ReLU6 + 1×1 project + BN, residual when shapes allow.</summary>
public sealed class InvertedResidual : Module
{
    private readonly Sequential _conv;
    private readonly bool _residual;

    public InvertedResidual(int inp, int oup, int stride, int expand, Rng rng)
    {
        int hidden = inp * expand;
        _residual = stride == 1 && inp == oup;
        var seq = new Sequential();
        if (expand != 1) { seq.Add(new Conv2d(inp, hidden, 1, bias: false, rng: rng)); seq.Add(new BatchNorm2d(hidden)); seq.Add(new ReLU6()); }
        seq.Add(new Conv2d(hidden, hidden, 3, stride, 1, groups: hidden, bias: false, rng: rng)); seq.Add(new BatchNorm2d(hidden)); seq.Add(new ReLU6());
        seq.Add(new Conv2d(hidden, oup, 1, bias: false, rng: rng)); seq.Add(new BatchNorm2d(oup));
        _conv = RegisterModule("conv", seq);
    }

    public override Tensor Forward(Tensor x) => _residual ? Tensor.Add(x, _conv.Forward(x)) : _conv.Forward(x);

    /// <summary>The layers in order (conv, BN, ReLU6, ...).</summary>
    public IEnumerable<Module> Layers => Enumerable.Range(0, _conv.Count).Select(i => _conv[i]);
    public bool Residual => _residual;
}

/// <summary>
/// MobileNetV2 feature extractor (width 1.0, all strides kept, output stride 32, final 1×1 conv to 1280 channels, no
/// pooling or classifier), as AdapMTL uses it (methods.md §2.6).
/// </summary>
public sealed class MobileNetV2Backbone : Backbone
{
    private static readonly (int T, int C, int N, int S)[] Config =
        { (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1) };
    private readonly Sequential _features;

    public MobileNetV2Backbone(Rng rng, int inChannels = 3)
    {
        var f = new Sequential(new Sequential(new Conv2d(inChannels, 32, 3, 2, 1, bias: false, rng: rng), new BatchNorm2d(32), new ReLU6()));
        int c = 32;
        foreach (var (t, oc, n, s) in Config)
            for (int i = 0; i < n; i++) { f.Add(new InvertedResidual(c, oc, i == 0 ? s : 1, t, rng)); c = oc; }
        f.Add(new Sequential(new Conv2d(c, 1280, 1, bias: false, rng: rng), new BatchNorm2d(1280), new ReLU6()));
        _features = RegisterModule("features", f);
    }

    public override int OutChannels => 1280;
    public override Tensor Forward(Tensor x) => _features.Forward(x);
    /// <summary>The stem, the inverted residuals and the last 1×1 conv block, in order.</summary>
    public IEnumerable<Module> Features => Enumerable.Range(0, _features.Count).Select(i => _features[i]);
}
