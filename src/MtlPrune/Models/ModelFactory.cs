using MtlPrune.Engine;
using MtlPrune.Engine.NN;
using MtlPrune.Tasks;

namespace MtlPrune.Models;

/// <summary>Builds a <see cref="MultiTaskModel"/> from a <see cref="ModelSpec"/>; the same spec and seed give the same weights.</summary>
public static class ModelFactory
{
    public static MultiTaskModel Build(ModelSpec spec, ulong seed = 0)
    {
        if (spec.Tasks.Length == 0) throw new ArgumentException("Model spec has no tasks.");
        var rng = new Rng(seed);
        Backbone backbone = spec.Arch switch
        {
            "resnet" => new ResNetBackbone(rng, spec.Widths, spec.Blocks, spec.Strides, spec.Dilations, spec.Stem, spec.InChannels),
            "mobilenetv2" => new MobileNetV2Backbone(rng, spec.InChannels),
            _ => throw new ArgumentException($"Unknown architecture '{spec.Arch}' (resnet, mobilenetv2)."),
        };
        InitBackbone(backbone, spec.Init, rng);
        var heads = new List<(TaskSpec, TaskHead)>();
        foreach (var t in spec.Tasks)
        {
            if (t.Channels < 1) throw new ArgumentException($"Task '{t.Name}' has {t.Channels} output channels.");
            TaskHead h = t.Kind == TaskKind.Classification ? new ClassificationHead(backbone.OutChannels, t.Channels, rng)
                : spec.Head switch
                {
                    "light" => new LightHead(backbone.OutChannels, t.Channels, rng, spec.HeadWidth) { UpsampleToInput = spec.Upsample },
                    "aspp" => new AsppHead(backbone.OutChannels, t.Channels, rng, spec.HeadWidth, spec.AsppRates, spec.Dropout) { UpsampleToInput = spec.Upsample },
                    _ => throw new ArgumentException($"Unknown head type '{spec.Head}' (light, aspp)."),
                };
            // Light heads follow the backbone's conv init (resnet-mini: Kaiming fan-out everywhere); ASPP heads keep
            // PyTorch's default init, as in the DeepLab codebases.
            if (spec.Head == "light" && spec.Init == "kaiming-fan-out")
                foreach (var (_, m) in h.NamedModules()) if (m is Conv2d c) Init.KaimingNormal(c.Weight, rng, FanMode.FanOut);
            heads.Add((t, h));
        }
        return new MultiTaskModel(spec, backbone, heads);
    }

    private static void InitBackbone(Module backbone, string init, Rng rng)
    {
        foreach (var (_, m) in backbone.NamedModules())
            if (m is Conv2d c)
                switch (init)
                {
                    case "kaiming-fan-out": Init.KaimingNormal(c.Weight, rng, FanMode.FanOut); break;
                    case "normal-0.01": Init.Normal(c.Weight, rng, 0, 0.01); break;
                    case "mobilenet": Init.Normal(c.Weight, rng, 0, Math.Sqrt(2.0 / (c.KernelSize.H * c.KernelSize.W * c.OutChannels))); break;
                    default: throw new ArgumentException($"Unknown init '{init}' (kaiming-fan-out, normal-0.01, mobilenet).");
                }
    }
}
