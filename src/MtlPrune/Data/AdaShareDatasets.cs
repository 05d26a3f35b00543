using System.Text.Json;
using MtlPrune.Engine;
using MtlPrune.Engine.IO;
using MtlPrune.Tasks;

namespace MtlPrune.Data;

/// <summary>Reads the AdaShare-style split files: a JSON object {"train": [[paths...], ...], "test": [...]}.</summary>
internal static class SplitJson
{
    /// <summary>The entries of <paramref name="split"/>, or only those at <paramref name="indices"/> when given.</summary>
    public static List<string[]> Read(string path, string split, int tupleSize, string layout, int[]? indices)
    {
        var all = Read(path, split, tupleSize, layout);
        return indices is null ? all : indices.Select(i => all[i]).ToList();
    }

    public static List<string[]> Read(string path, string split, int tupleSize, string layout)
    {
        ArrayLayout.Require(path, layout);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty(split, out var arr) || arr.ValueKind != JsonValueKind.Array)
                throw new ModelFormatException(path, $"no \"{split}\" list. Expected layout: {layout}");
            var list = new List<string[]>();
            foreach (var e in arr.EnumerateArray())
            {
                if (e.ValueKind != JsonValueKind.Array || e.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.String))
                    throw new ModelFormatException(path, $"entry {list.Count} of \"{split}\" is not a list of paths. Expected layout: {layout}");
                var items = e.EnumerateArray().Select(x => x.GetString()!).ToArray();
                if (items.Length != tupleSize) throw new ModelFormatException(path, $"entry {list.Count} of \"{split}\" has {items.Length} paths, expected {tupleSize}. Expected layout: {layout}");
                list.Add(items);
            }
            return list;
        }
        catch (JsonException e) { throw new ModelFormatException(path, $"invalid JSON: {e.Message}"); }
    }
}

/// <summary>
/// AdaShare's NYUv2 (methods.md §6.1), which DiSparse, CUT and AdapMTL load: <c>root/nyu_v2_3task.json</c> with
/// [img, seg, normal, depth] per entry; img PNG read as BGR minus the mean (104.01, 116.67, 122.68) with no std
/// division; seg PNG 0–39 with 255 = ignore; normal PNG (BGR uint8), (255, 255, 255) = invalid, used as the L2-normalised
/// uint8 vector without centring (that codebase's convention); depth .npy (Fortran order) with 0 = invalid.
/// </summary>
public sealed class NyuAdaShareDataset : IDataset
{
    internal static readonly double[] BgrMean = { 104.00698793, 116.66876762, 122.67891434 };
    private const string Layout = "root/nyu_v2_3task.json = {\"train\": [[img/x.png, seg/x.png, normal_mask/x.png, depth/x.npy], ...], \"test\": [...]} (AdaShare NYUv2)";
    private readonly string _root;
    private readonly List<string[]> _entries;

    public string Name { get; }
    public int Count => _entries.Count;
    public IReadOnlyList<TaskSpec> Tasks { get; } = new[]
    {
        new TaskSpec("seg", TaskKind.Segmentation, 40, IgnoreIndex: 255), new TaskSpec("normal", TaskKind.Normals, 3), new TaskSpec("depth", TaskKind.Depth, 1),
    };

    public NyuAdaShareDataset(string root, string split, int[]? indices = null)
    {
        _root = root;
        _entries = SplitJson.Read(Path.Combine(root, "nyu_v2_3task.json"), split, 4, Layout, indices);
        Name = $"nyuv2-adashare-{split}";
    }

    public static int CountSplit(string root, string split) => SplitJson.Read(Path.Combine(root, "nyu_v2_3task.json"), split, 4, Layout).Count;

    public Sample Get(int index)
    {
        var e = _entries[index];
        string F(int k) => ArrayLayout.Require(Path.Combine(_root, e[k]), Layout);
        var img = ArrayLayout.SubtractMean(ArrayLayout.ReverseChannels(ArrayLayout.PngToChw(F(0), 3)), BgrMean);
        var seg = ArrayLayout.PngToChw(F(1), 1).Reshape(img.Shape[1], img.Shape[2]);
        var raw = ArrayLayout.ReverseChannels(ArrayLayout.PngToChw(F(2), 3));
        var normal = NormaliseMasked(raw);
        var depth = ArrayLayout.NpyToChw(F(3), 1);
        return new Sample(img, new Dictionary<string, Tensor> { ["seg"] = seg, ["normal"] = normal, ["depth"] = depth });
    }

    /// <summary>L2-normalised vectors; (255, 255, 255) becomes the zero vector (missing).</summary>
    private static Tensor NormaliseMasked(Tensor bgr)
    {
        var a = bgr.ToArray(); int s = a.Length / 3;
        for (int j = 0; j < s; j++)
        {
            if (a[j] == 255 && a[s + j] == 255 && a[2 * s + j] == 255) { a[j] = a[s + j] = a[2 * s + j] = 0; continue; }
            double n = Math.Sqrt(a[j] * a[j] + a[s + j] * a[s + j] + a[2 * s + j] * a[2 * s + j]);
            if (n > 0) { a[j] = (float)(a[j] / n); a[s + j] = (float)(a[s + j] / n); a[2 * s + j] = (float)(a[2 * s + j] / n); }
        }
        return Tensor.FromArray(a, bgr.Shape);
    }
}

/// <summary>
/// AdaShare/DiSparse/CUT Cityscapes (methods.md §6.3): <c>root/cityscape.json</c> with [img, depth, label2, label7,
/// label19] .npy paths per entry; img RGB [0, 1] turned into BGR·255 minus the mean; labels −1 = ignore; depth 0 = invalid.
/// </summary>
public sealed class CityscapesAdaShareDataset : IDataset
{
    private const string Layout = "root/cityscape.json = {\"train\": [[img.npy, depth.npy, label2.npy, label7.npy, label19.npy], ...], \"test\": [...]}";
    private readonly string _root;
    private readonly List<string[]> _entries;
    private readonly int _labelColumn;

    public string Name { get; }
    public int Count => _entries.Count;
    public IReadOnlyList<TaskSpec> Tasks { get; }

    public CityscapesAdaShareDataset(string root, string split, int classes = 19, int[]? indices = null)
    {
        _root = root;
        _labelColumn = classes switch { 2 => 2, 7 => 3, 19 => 4, _ => throw new ArgumentException($"Cityscapes classes must be 2, 7 or 19, got {classes}.") };
        _entries = SplitJson.Read(Path.Combine(root, "cityscape.json"), split, 5, Layout, indices);
        Tasks = new[] { new TaskSpec("seg", TaskKind.Segmentation, classes, IgnoreIndex: -1), new TaskSpec("depth", TaskKind.Depth, 1) };
        Name = $"cityscapes-adashare-{split}";
    }

    public static int CountSplit(string root, string split) => SplitJson.Read(Path.Combine(root, "cityscape.json"), split, 5, Layout).Count;

    public Sample Get(int index)
    {
        var e = _entries[index];
        string F(int k) => ArrayLayout.Require(Path.Combine(_root, e[k]), Layout);
        var rgb = ArrayLayout.NpyToChw(F(0), 3);
        var img = ArrayLayout.SubtractMean(ArrayLayout.ReverseChannels(rgb).MulScalar(255f), NyuAdaShareDataset.BgrMean);
        var seg = ArrayLayout.NpyToChw(F(_labelColumn), 1).Reshape(img.Shape[1], img.Shape[2]);
        var depth = ArrayLayout.NpyToChw(F(1), 1);
        return new Sample(img, new Dictionary<string, Tensor> { ["seg"] = seg, ["depth"] = depth });
    }
}

/// <summary>
/// Tiny-Taskonomy (methods.md §6.4): <c>root/taskonomy.json</c> with [rgb, segment_semantic, normal, depth_zbuffer,
/// keypoints2d, edge_texture] paths (relative to root) and <c>root/semseg_prior_factor.npy</c> (class weights).
/// Decoding, all resized to 256×256 with nearest: rgb → BGR minus the mean; seg uint8 v → class v−1 (0 = unlabelled →
/// ignore 255; 17 classes); normal /255 rescaled to [−1, 1]; depth uint16 d → log(1+d)/log(2^16), invalid (0) where
/// d ≥ 64500, and the normal is invalid there too; keypoints /2^16 clipped to [0, 0.005] and edges /2^16 clipped to
/// [0, 0.08], both rescaled to [−1, 1].
/// </summary>
public sealed class TaskonomyDataset : IDataset
{
    private const string Layout = "root/taskonomy.json = {\"train\": [[rgb.png, segment_semantic.png, normal.png, depth_zbuffer.png, keypoints2d.png, edge_texture.png], ...], \"test\": [...]} and root/semseg_prior_factor.npy";
    private readonly string _root;
    private readonly List<string[]> _entries;
    private readonly int _size;

    public string Name { get; }
    public int Count => _entries.Count;
    public IReadOnlyList<TaskSpec> Tasks { get; }

    public TaskonomyDataset(string root, string split, int size = 256, int[]? indices = null)
    {
        _root = root; _size = size;
        _entries = SplitJson.Read(Path.Combine(root, "taskonomy.json"), split, 6, Layout, indices);
        var prior = Path.Combine(root, "semseg_prior_factor.npy");
        float[]? weights = File.Exists(prior) ? Npy.Read(prior).ToTensor().ToArray() : null;
        if (weights is not null && weights.Length != 17) throw new ModelFormatException(prior, $"expected 17 class weights, got {weights.Length}.");
        Tasks = new[]
        {
            new TaskSpec("seg", TaskKind.Segmentation, 17, IgnoreIndex: 255, ClassWeights: weights), new TaskSpec("normal", TaskKind.Normals, 3),
            new TaskSpec("depth", TaskKind.Depth, 1), new TaskSpec("keypoints", TaskKind.Keypoints, 1, IgnoreIndex: int.MinValue),
            new TaskSpec("edges", TaskKind.Edges, 1, IgnoreIndex: int.MinValue),
        };
        Name = $"taskonomy-{split}";
    }

    public static int CountSplit(string root, string split) => SplitJson.Read(Path.Combine(root, "taskonomy.json"), split, 6, Layout).Count;

    public Sample Get(int index)
    {
        var e = _entries[index];
        Tensor Load(int k, int ch) => ArrayLayout.ResizeNearest(ArrayLayout.PngToChw(ArrayLayout.Require(Path.Combine(_root, e[k]), Layout), ch), _size, _size);
        var img = ArrayLayout.SubtractMean(ArrayLayout.ReverseChannels(Load(0, 3)), NyuAdaShareDataset.BgrMean);
        var segRaw = Load(1, 1).ToArray();
        var seg = Tensor.FromArray(segRaw.Select(v => v > 0 ? v - 1 : 255f).ToArray(), _size, _size);
        var depthRaw = Load(3, 1).ToArray();
        var valid = depthRaw.Select(d => d < 64500).ToArray();
        var depth = Tensor.FromArray(depthRaw.Select((d, i) => valid[i] ? (float)(Math.Log(1 + d) / Math.Log(65536)) : 0f).ToArray(), 1, _size, _size);
        var n = Load(2, 3).ToArray(); int s = _size * _size;
        for (int j = 0; j < s; j++)
            for (int c = 0; c < 3; c++) n[c * s + j] = valid[j] ? n[c * s + j] / 255f * 2 - 1 : 0f;
        Tensor Scaled(int k, float clip) => Tensor.FromArray(Load(k, 1).ToArray().Select(v => Math.Min(v / 65536f, clip) / clip * 2 - 1).ToArray(), 1, _size, _size);
        return new Sample(img, new Dictionary<string, Tensor>
        {
            ["seg"] = seg, ["normal"] = Tensor.FromArray(n, 3, _size, _size), ["depth"] = depth,
            ["keypoints"] = Scaled(4, 0.005f), ["edges"] = Scaled(5, 0.08f),
        });
    }
}
