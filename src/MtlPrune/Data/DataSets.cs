namespace MtlPrune.Data;

/// <summary>Opens a data split by name: the built-in scenes or one of the real layouts.</summary>
public static class DataSets
{
    public static readonly string[] Names = { "scenes", "nyuv2-mtan", "nyuv2-adashare", "cityscapes-mtan", "cityscapes-adashare", "taskonomy", "multi-mnist", "multi-fashion" };

    /// <summary>
    /// Opens <paramref name="split"/> of <paramref name="name"/>. Real data sets ship a train and a test split only; the
    /// validation split is the last <paramref name="valCount"/> training samples (and the training split excludes them),
    /// so model selection never sees the test split.
    /// </summary>
    /// <param name="name">The data set's name, as `mtlprune train --data` takes it.</param>
    /// <param name="root">Where its files are (null for the generated data sets).</param>
    /// <param name="split">Train, validation or test.</param>
    /// <param name="valCount">Training samples held out as the validation split.</param>
    /// <param name="seed">Seed of the generated data sets.</param>
    /// <param name="tasks">Tasks to load (null: all the data set has).</param>
    /// <param name="count">Samples for the generated data sets (scenes, multi-mnist); ignored by the others.</param>
    /// <param name="size">Image size for scenes (square) and Taskonomy.</param>
    /// <param name="classes">Segmentation classes for Cityscapes (7 or 19).</param>
    /// <param name="skipBadSamples">For the data sets read sample by sample from files: log a damaged sample and use the
    /// next one instead of stopping (<see cref="SampleGuard"/>); either way a damaged sample is named by index and file.</param>
    public static IDataset Open(string name, string? root, Split split, int count, int valCount, int size = 64, ulong seed = 0,
        IEnumerable<string>? tasks = null, int classes = 19, bool skipBadSamples = false)
    {
        var data = OpenRaw(name, root, split, count, valCount, size, seed, tasks, classes);
        return data is ScenesDataset or MultiMnistDataset ? data : new SampleGuard(data, skipBadSamples);
    }

    private static IDataset OpenRaw(string name, string? root, Split split, int count, int valCount, int size, ulong seed, IEnumerable<string>? tasks, int classes)
    {
        if (name != "scenes" && string.IsNullOrEmpty(root)) throw new ArgumentException($"data '{name}' needs a data root (--data-root).");
        if (name != "scenes" && !Directory.Exists(root)) throw new DirectoryNotFoundException($"Data root '{root}' does not exist.");
        int[]? Indices(int total) => split switch
        {
            Split.Train => Enumerable.Range(0, Math.Max(0, total - valCount)).ToArray(),
            Split.Validation => Enumerable.Range(Math.Max(0, total - valCount), Math.Min(valCount, total)).ToArray(),
            _ => null,
        };
        return name switch
        {
            "scenes" => new ScenesDataset(split, count, size, size, seed, tasks),
            "nyuv2-mtan" => new MtanDataset(root!, split == Split.Test ? "val" : "train", split == Split.Test ? null : Indices(MtanDataset.CountFiles(root!, "train"))),
            "cityscapes-mtan" => new MtanDataset(root!, split == Split.Test ? "val" : "train", split == Split.Test ? null : Indices(MtanDataset.CountFiles(root!, "train")),
                classes, $"label_{classes}", withNormals: false, name: "cityscapes-mtan"),
            "nyuv2-adashare" => new NyuAdaShareDataset(root!, split == Split.Test ? "test" : "train", split == Split.Test ? null : Indices(NyuAdaShareDataset.CountSplit(root!, "train"))),
            "cityscapes-adashare" => new CityscapesAdaShareDataset(root!, split == Split.Test ? "test" : "train", classes, split == Split.Test ? null : Indices(CityscapesAdaShareDataset.CountSplit(root!, "train"))),
            "taskonomy" => new TaskonomyDataset(root!, split == Split.Test ? "test" : "train", size, split == Split.Test ? null : Indices(TaskonomyDataset.CountSplit(root!, "train"))),
            "multi-mnist" => new MultiMnistDataset(root!, split, count, seed),
            "multi-fashion" => new MultiMnistDataset(root!, split, count, seed, "multi-fashion"),
            _ => throw new ArgumentException($"Unknown data '{name}' (available: {string.Join(", ", Names)})."),
        };
    }
}
