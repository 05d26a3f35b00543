using MtlPrune.Engine;
using MtlPrune.Models;
using MtlPrune.Tasks;

namespace MtlPrune.Interop;

/// <summary>
/// MtlPrune's own names, which follow PyTorch's (<c>backbone.layer1.0.conv1.weight</c>, <c>heads.seg.conv1.weight</c>),
/// mapped 1:1. The architecture is read from the shapes: a ResNet backbone (stem 3×3 → resnet-mini strides 1/2/2/2;
/// stem 7×7 → DeepLab strides 1/2/1/1, dilations 1/1/2/4, output stride 8) or MobileNetV2 (<c>backbone.features</c>);
/// light, ASPP or classification heads, with widths and output channels; task names from <c>heads.&lt;task&gt;</c>.
/// </summary>
public sealed class MtlpruneLayout : ITensorLayout
{
    public string Name => "mtlprune";
    public string Describe => "backbone.conv1, backbone.layer<n>.<block>.*, or backbone.features.*; heads.<task>.*";

    public bool Recognizes(IReadOnlyCollection<string> names) =>
        names.Any(n => n.StartsWith("heads.")) && names.Any(n => n.StartsWith("backbone.layer") || n.StartsWith("backbone.features."));

    public void Prepare(Dictionary<string, Tensor> tensors, Dictionary<string, Tensor> masks, List<string> notes) { }

    public ModelSpec Infer(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyList<TaskRequest>? tasks, int ignoreIndex, List<string> inferred)
    {
        int[]? Shape(string n) => tensors.TryGetValue(n, out var t) ? t.Shape : null;
        ModelSpec spec;
        if (Shape("backbone.features.0.0.weight") is { } mb)
        {
            spec = ModelSpec.MobileNetV2() with { InChannels = mb[1] };
            inferred.Add($"MobileNetV2 backbone ({mb[1]} input channels, output stride 32, 1280 channels)");
        }
        else
        {
            var stem = Shape("backbone.conv1.weight") ?? throw new ArgumentException("mtlprune layout: neither backbone.conv1.weight (ResNet) nor backbone.features.0.0.weight (MobileNetV2) is present.");
            bool deeplab = stem[2] == 7;
            var widths = new List<int>(); var blocks = new List<int>();
            for (int s = 1; Shape($"backbone.layer{s}.0.conv1.weight") is { } w; s++)
            {
                widths.Add(w[0]);
                int b = 0;
                while (Shape($"backbone.layer{s}.{b}.conv1.weight") is not null) b++;
                blocks.Add(b);
            }
            if (widths.Count == 0) throw new ArgumentException("mtlprune layout: no backbone.layer<n> stages found.");
            var basis = deeplab ? ModelSpec.DeepLabResNet34() : ModelSpec.ResNetMini();
            if (deeplab && widths.Count != 4) throw new ArgumentException($"mtlprune layout: a DeepLab stem with {widths.Count} stages; its strides and dilations are defined for 4.");
            var strides = deeplab ? basis.Strides : Enumerable.Range(0, widths.Count).Select(i => i == 0 ? 1 : 2).ToArray();
            var dilations = deeplab ? basis.Dilations : Enumerable.Repeat(1, widths.Count).ToArray();
            spec = basis with { InChannels = stem[1], Widths = widths.ToArray(), Blocks = blocks.ToArray(), Strides = strides, Dilations = dilations, Name = "custom" };
            inferred.Add($"ResNet backbone: stem {stem[2]}×{stem[3]} ({stem[1]} input channels), widths {string.Join("/", widths)}, blocks {string.Join("/", blocks)}, " +
                $"strides {string.Join("/", strides)}, dilations {string.Join("/", dilations)} ({(deeplab ? "DeepLab" : "resnet-mini")} convention for this stem)");
        }
        var names = tensors.Keys.Where(k => k.StartsWith("heads.")).Select(k => k.Split('.')[1]).Distinct().ToList();
        if (tasks is not null && tasks.Count > 0)
        {
            var missing = tasks.Where(t => !names.Contains(t.Name)).Select(t => t.Name).ToList();
            if (missing.Count > 0) throw new ArgumentException($"--tasks names {string.Join(", ", missing)}, but the file's heads are {string.Join(", ", names)}.");
            var extra = names.Where(n => tasks.All(t => t.Name != n)).ToList();
            if (extra.Count > 0) throw new ArgumentException($"The file has heads {string.Join(", ", extra)} that --tasks does not list; list every head (import keeps them all; prune drops tasks).");
            names = tasks.Select(t => t.Name).ToList();
        }
        string? headType = null; int headWidth = spec.HeadWidth;
        var specs = new List<TaskSpec>();
        foreach (var n in names)
        {
            var req = tasks?.FirstOrDefault(t => t.Name == n);
            var kind = req?.Kind ?? TaskRequest.KindFromName(n)
                ?? throw new ArgumentException($"Cannot tell the kind of head '{n}' from its name; give --tasks with {n}=<kind>.");
            int channels; string type;
            if (Shape($"heads.{n}.fc.weight") is { } fc) { type = "classification"; channels = fc[0]; }
            else if (Shape($"heads.{n}.branches.0.0.weight") is { } a)
            {
                type = "aspp"; headWidth = a[0];
                int branches = 0;
                while (Shape($"heads.{n}.branches.{branches}.2.weight") is not null) branches++;
                if (branches != spec.AsppRates.Length) throw new ArgumentException($"Head '{n}' has {branches} ASPP branches; rates are known only for {spec.AsppRates.Length} (6/12/18/24).");
                channels = Shape($"heads.{n}.branches.0.2.weight")![0];
            }
            else if (Shape($"heads.{n}.conv1.weight") is { } l && Shape($"heads.{n}.conv2.weight") is { } l2) { type = "light"; headWidth = l[0]; channels = l2[0]; }
            else throw new ArgumentException($"Head '{n}' is none of the known kinds (heads.{n}.fc, heads.{n}.branches.<j>, heads.{n}.conv1 + conv2).");
            if (type != "classification")
            {
                if (headType is not null && headType != type) throw new ArgumentException($"Heads mix {headType} and {type} types; one model has one dense head type.");
                headType = type;
            }
            if (req?.Channels is int want && want != channels) throw new ArgumentException($"--tasks gives {n} {want} channels but its head outputs {channels}.");
            specs.Add((req ?? new TaskRequest(n, kind, null)).ToSpec(channels, ignoreIndex));
            inferred.Add($"head '{n}': {type}, {kind}, {channels} outputs");
        }
        spec = spec with { Tasks = specs.ToArray(), Head = headType ?? spec.Head, HeadWidth = headWidth };
        if (headType is not null) inferred.Add($"{headType} heads of width {headWidth}{(headType == "aspp" ? ", rates 6/12/18/24" : "")}; dense heads {(spec.Upsample ? "upsample to the input size" : "predict at the backbone's resolution")}");
        return spec;
    }

    public IReadOnlyDictionary<string, string> Names(MultiTaskModel model) => model.StateDict().Keys.ToDictionary(k => k, k => k);
}
