using System.Text.RegularExpressions;
using MtlPrune.Engine;
using MtlPrune.Models;
using MtlPrune.Tasks;

namespace MtlPrune.Interop;

/// <summary>
/// The DeepLab-ResNet share-bottom network of AdaShare, DiSparse, CUT and AdapMTL (<c>scene_net.py</c>; methods.md
/// §7.1-7.2): <c>backbone.conv1</c>, <c>backbone.bn1</c>, <c>backbone.blocks.&lt;stage&gt;.&lt;block&gt;.{conv1,bn1,conv2,bn2}</c>,
/// <c>backbone.ds.&lt;stage&gt;.{0,1}</c> (the 1×1 conv + BN shortcut where a stage changes stride or width or is dilated),
/// and per task k = 1, 2, ... (in the order the user lists the tasks) four ASPP branches
/// <c>task&lt;k&gt;_fc1_c&lt;j&gt;.{conv1,conv2,conv3}</c> with rates 6, 12, 18, 24. Strides [1, 2, 1, 1] and dilations [1, 1, 2, 4]
/// are fixed by the architecture; widths, blocks per stage, head width and classes are read from the shapes. An
/// AdapMTL checkpoint's <c>backbone.sparseThreshold</c> s is applied: each backbone weight becomes
/// sign(W)·relu(|W| − σ(s)), with the mask |W| &gt; σ(s).
/// </summary>
public sealed class ScenenetLayout : ITensorLayout
{
    private static readonly Regex Head = new(@"^task(\d+)_fc1_c(\d+)\.conv([123])\.(weight|bias)$");

    public string Name => "scenenet";
    public string Describe => "backbone.conv1/bn1, backbone.blocks.<stage>.<block>.{conv1,bn1,conv2,bn2}, backbone.ds.<stage>.{0,1}, task<k>_fc1_c<j>.{conv1,conv2,conv3}";

    public bool Recognizes(IReadOnlyCollection<string> names) => names.Any(n => n.StartsWith("backbone.blocks.")) || names.Any(n => Head.IsMatch(n));

    public void Prepare(Dictionary<string, Tensor> tensors, Dictionary<string, Tensor> masks, List<string> notes)
    {
        if (!tensors.Remove("backbone.sparseThreshold", out var s)) return;
        if (s.Numel != 1) throw new ArgumentException($"backbone.sparseThreshold has {s.Numel} values; AdapMTL stores one.");
        float threshold = 1f / (1f + MathF.Exp(-s.ToArray()[0]));
        long pruned = 0, total = 0;
        foreach (var (name, w) in tensors.Where(kv => kv.Key.StartsWith("backbone.") && kv.Key.EndsWith(".weight") && kv.Value.Rank == 4).ToList())
        {
            var ws = w.Span;
            var m = new float[ws.Length];
            for (int i = 0; i < ws.Length; i++)
            {
                float a = MathF.Abs(ws[i]) - threshold;
                m[i] = a > 0 ? 1 : 0;
                ws[i] = a > 0 ? MathF.CopySign(a, ws[i]) : 0;
                if (a <= 0) pruned++;
            }
            total += ws.Length;
            if (masks.TryGetValue(name, out var old)) { var o = old.Span; for (int i = 0; i < m.Length; i++) m[i] *= o[i]; }
            masks[name] = Tensor.FromArray(m, w.Shape);
        }
        notes.Add($"applied AdapMTL's backbone soft threshold σ(s) = {threshold:G4}: W ← sign(W)·relu(|W| − σ(s)), {pruned:N0} of {total:N0} backbone conv weights are 0 (masked)");
    }

    public ModelSpec Infer(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyList<TaskRequest>? tasks, int ignoreIndex, List<string> inferred)
    {
        int[] Shape(string n) => tensors.TryGetValue(n, out var t) ? t.Shape : throw new ArgumentException($"scenenet layout: '{n}' is missing.");
        var stem = Shape("backbone.conv1.weight");
        if (stem.Length != 4 || stem[2] != 7) throw new ArgumentException($"scenenet layout: backbone.conv1.weight has shape {Tensor.ShapeString(stem)}; the DeepLab stem is a 7×7 convolution.");
        var widths = new List<int>(); var blocks = new List<int>();
        for (int s = 0; tensors.ContainsKey($"backbone.blocks.{s}.0.conv1.weight"); s++)
        {
            widths.Add(Shape($"backbone.blocks.{s}.0.conv1.weight")[0]);
            int b = 0;
            while (tensors.ContainsKey($"backbone.blocks.{s}.{b}.conv1.weight")) b++;
            blocks.Add(b);
        }
        if (widths.Count != 4) throw new ArgumentException($"scenenet layout: found {widths.Count} stages (backbone.blocks.<stage>); the DeepLab-ResNet has 4.");
        var heads = tensors.Keys.Select(k => Head.Match(k)).Where(m => m.Success).Select(m => int.Parse(m.Groups[1].Value)).Distinct().Order().ToList();
        if (heads.Count == 0) throw new ArgumentException("scenenet layout: no task heads (task<k>_fc1_c<j>.conv1.weight) found.");
        if (heads[0] != 1 || heads[^1] != heads.Count) throw new ArgumentException($"scenenet layout: task heads are numbered {string.Join(", ", heads)}; expected 1 to {heads.Count}.");
        if (tasks is null || tasks.Count == 0)
            throw new ArgumentException($"scenenet files do not name their tasks: give --tasks with {heads.Count} names in head order (task1, task2, ...), e.g. --tasks seg:40,normal:3,depth:1.");
        if (tasks.Count != heads.Count)
            throw new ArgumentException($"--tasks names {tasks.Count} tasks but the file has {heads.Count} heads (task1 … task{heads.Count}).");
        int headWidth = Shape("task1_fc1_c0.conv1.weight")[0];
        var specs = new List<TaskSpec>();
        for (int k = 1; k <= heads.Count; k++)
        {
            for (int j = 0; j < 4; j++) Shape($"task{k}_fc1_c{j}.conv3.weight");
            if (tensors.ContainsKey($"task{k}_fc1_c4.conv1.weight")) throw new ArgumentException($"scenenet layout: task{k} has more than the four ASPP branches c0-c3.");
            int c = Shape($"task{k}_fc1_c0.conv3.weight")[0];
            var req = tasks[k - 1];
            if (req.Channels is int want && want != c) throw new ArgumentException($"--tasks gives {req.Name} {want} channels but head task{k} outputs {c}.");
            specs.Add(req.ToSpec(c, ignoreIndex));
            inferred.Add($"task{k}_fc1_* → {req.Name} ({req.Kind}, {c} outputs)");
        }
        var spec = ModelSpec.DeepLabResNet34(specs.ToArray()) with { InChannels = stem[1], Widths = widths.ToArray(), Blocks = blocks.ToArray(), HeadWidth = headWidth };
        bool preset = widths.SequenceEqual(new[] { 64, 128, 256, 512 }) && blocks.SequenceEqual(new[] { 3, 4, 6, 3 }) && headWidth == 1024;
        spec = spec with { Name = preset ? "deeplab-resnet34" : "deeplab-resnet" };
        inferred.Insert(0, $"DeepLab-ResNet backbone: stem 7×7 ({stem[1]} input channels), widths {string.Join("/", widths)}, blocks {string.Join("/", blocks)}, " +
            $"strides 1/2/1/1 and dilations 1/1/2/4 (fixed by the architecture), output stride 8{(preset ? " (= deeplab-resnet34)" : "")}");
        inferred.Insert(1, $"ASPP heads: width {headWidth}, rates 6/12/18/24, predicting at 1/8 resolution");
        return spec;
    }

    public IReadOnlyDictionary<string, string> Names(MultiTaskModel model)
    {
        var taskIndex = model.Tasks.Select((t, i) => (t.Name, i)).ToDictionary(x => x.Name, x => x.i + 1);
        var map = new Dictionary<string, string>();
        foreach (var name in model.StateDict().Keys)
        {
            string? theirs = name;
            var m = Regex.Match(name, @"^backbone\.layer(\d+)\.(\d+)\.downsample\.([01])\.(.+)$");
            if (m.Success) theirs = $"backbone.ds.{int.Parse(m.Groups[1].Value) - 1}.{m.Groups[3].Value}.{m.Groups[4].Value}";
            else if ((m = Regex.Match(name, @"^backbone\.layer(\d+)\.(\d+)\.(.+)$")).Success)
                theirs = $"backbone.blocks.{int.Parse(m.Groups[1].Value) - 1}.{m.Groups[2].Value}.{m.Groups[3].Value}";
            else if ((m = Regex.Match(name, @"^heads\.([^.]+)\.branches\.(\d+)\.([012])\.(weight|bias)$")).Success)
                theirs = $"task{taskIndex[m.Groups[1].Value]}_fc1_c{m.Groups[2].Value}.conv{int.Parse(m.Groups[3].Value) + 1}.{m.Groups[4].Value}";
            else if (!name.StartsWith("backbone.conv1.") && !name.StartsWith("backbone.bn1."))
                throw new ArgumentException($"The scenenet layout has no name for '{name}': it describes DeepLab-ResNet backbones with ASPP heads only.");
            map[name] = theirs;
        }
        return map;
    }
}
