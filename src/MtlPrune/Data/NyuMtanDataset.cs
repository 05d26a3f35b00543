using MtlPrune.Engine;
using MtlPrune.Tasks;

namespace MtlPrune.Data;

/// <summary>
/// MTAN's pre-processed NYUv2 (methods.md §6.2) and the same layout of Cityscapes:
/// <c>root/{train,val}/{image,label,depth,normal}/{i}.npy</c> with image (H, W, 3) RGB in [0, 1], label (H, W) with −1 =
/// ignore (13 classes for NYUv2; Cityscapes uses <c>label_7</c>/<c>label_19</c>), depth (H, W, 1) with 0 = missing,
/// normal (H, W, 3) unit vectors with all-zero = missing. Every .npy's dtype and order are read from its header.
/// </summary>
public sealed class MtanDataset : IDataset
{
    private readonly string _dir;
    private readonly int[] _indices;
    private readonly string _labelFolder;
    private const string Layout = "root/{train,val}/{image,label,depth,normal}/{i}.npy (MTAN pre-processed NYUv2 or Cityscapes)";

    public string Name { get; }
    public int Count => _indices.Length;
    public IReadOnlyList<TaskSpec> Tasks { get; }

    /// <param name="root">Data root.</param>
    /// <param name="folder"><c>train</c> or <c>val</c>.</param>
    /// <param name="indices">Which files of the folder (all when null).</param>
    /// <param name="classes">Segmentation classes: 13 (NYUv2), 7 or 19 (Cityscapes).</param>
    /// <param name="labelFolder"><c>label</c> (NYUv2) or <c>label_7</c>/<c>label_19</c> (Cityscapes).</param>
    /// <param name="withNormals">NYUv2 has normals; Cityscapes does not.</param>
    /// <param name="name">The data set's name, as errors and reports give it.</param>
    public MtanDataset(string root, string folder, int[]? indices = null, int classes = 13, string labelFolder = "label", bool withNormals = true, string name = "nyuv2-mtan")
    {
        _dir = Path.Combine(root, folder);
        _labelFolder = labelFolder;
        if (!Directory.Exists(Path.Combine(_dir, "image")))
            throw new DirectoryNotFoundException($"'{Path.Combine(_dir, "image")}' does not exist. Expected layout: {Layout}");
        int files = Directory.GetFiles(Path.Combine(_dir, "image"), "*.npy").Length;
        if (files == 0) throw new FileNotFoundException($"No .npy files in '{Path.Combine(_dir, "image")}'. Expected layout: {Layout}");
        _indices = indices ?? Enumerable.Range(0, files).ToArray();
        var tasks = new List<TaskSpec> { new("seg", TaskKind.Segmentation, classes, IgnoreIndex: -1), new("depth", TaskKind.Depth, 1) };
        if (withNormals) tasks.Add(new("normal", TaskKind.Normals, 3));
        Tasks = tasks;
        Name = $"{name}-{folder}";
    }

    /// <summary>Number of samples in <c>root/folder</c>.</summary>
    public static int CountFiles(string root, string folder) =>
        Directory.Exists(Path.Combine(root, folder, "image")) ? Directory.GetFiles(Path.Combine(root, folder, "image"), "*.npy").Length : 0;

    public Sample Get(int index)
    {
        int i = _indices[index];
        string F(string kind) => ArrayLayout.Require(Path.Combine(_dir, kind, $"{i}.npy"), Layout);
        var image = ArrayLayout.NpyToChw(F("image"), 3);
        var targets = new Dictionary<string, Tensor>
        {
            ["seg"] = ArrayLayout.NpyToChw(F(_labelFolder), 1).Reshape(image.Shape[1], image.Shape[2]),
            ["depth"] = ArrayLayout.NpyToChw(F("depth"), 1),
        };
        if (Tasks.Count > 2) targets["normal"] = ArrayLayout.NpyToChw(F("normal"), 3);
        foreach (var (k, t) in targets)
            if (t.Shape[^2] != image.Shape[1] || t.Shape[^1] != image.Shape[2])
                throw new Engine.IO.ModelFormatException(F(k == "seg" ? _labelFolder : k), $"size {t.Shape[^2]}x{t.Shape[^1]} differs from the image's {image.Shape[1]}x{image.Shape[2]}.");
        return new Sample(image, targets);
    }
}
