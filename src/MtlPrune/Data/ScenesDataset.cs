using MtlPrune.Data.Scenes;
using MtlPrune.Engine;
using MtlPrune.Tasks;

namespace MtlPrune.Data;

/// <summary>Which part of a data set.</summary>
public enum Split { Train, Validation, Test }

/// <summary>
/// The built-in <c>scenes</c> data: procedurally generated, ray-cast indoor rooms (floor, walls, ceiling and 10 kinds
/// of objects; 13 classes) with exact, mutually consistent RGB, semantic labels, z-depth, surface normals, texture
/// edges and Harris keypoints. Deterministic in (seed, split, index) at any resolution; the splits use disjoint
/// generator streams. Images are normalised as (rgb − 0.5)/0.25. Rendered samples are cached in memory.
/// </summary>
public sealed class ScenesDataset : IDataset
{
    /// <summary>All tasks the data carries: seg (13 classes), depth, normal, edges, keypoints.</summary>
    public static readonly TaskSpec[] AllTasks =
    {
        new("seg", TaskKind.Segmentation, SceneClasses.Count), new("depth", TaskKind.Depth, 1), new("normal", TaskKind.Normals, 3),
        new("edges", TaskKind.Edges, 1, IgnoreIndex: -1), new("keypoints", TaskKind.Keypoints, 1, IgnoreIndex: -1),
    };

    private readonly Sample?[] _cache;
    private readonly ulong _seed;
    private readonly Split _split;

    public string Name => $"scenes-{_split.ToString().ToLowerInvariant()}";
    public int Count { get; }
    public int Height { get; }
    public int Width { get; }
    public IReadOnlyList<TaskSpec> Tasks { get; }

    public ScenesDataset(Split split, int count, int height = 64, int width = 64, ulong seed = 0, IEnumerable<string>? tasks = null)
    {
        if (count < 1) throw new ArgumentException($"scenes: count {count} must be positive.");
        if (height < 8 || width < 8) throw new ArgumentException($"scenes: resolution {height}x{width} is below 8x8.");
        _split = split; _seed = seed; Count = count; Height = height; Width = width;
        var names = tasks?.ToList() ?? new List<string> { "seg", "depth", "normal" };
        Tasks = names.Select(t => AllTasks.FirstOrDefault(a => a.Name == t)
            ?? throw new ArgumentException($"scenes has no task '{t}' (available: {string.Join(", ", AllTasks.Select(a => a.Name))}).")).ToList();
        _cache = new Sample?[count];
    }

    public Sample Get(int index)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), $"{Name}: index {index} outside [0, {Count}).");
        var cached = Volatile.Read(ref _cache[index]);
        if (cached is not null) return cached;
        var s = Render(index);
        Volatile.Write(ref _cache[index], s);
        return s;
    }

    private Sample Render(int index)
    {
        var scene = SceneGenerator.Generate(_seed * 3 + (ulong)_split, index);
        var r = SceneRenderer.Render(scene, Height, Width);
        var img = Tensor.FromArray(r.Rgb.Select(v => (v - 0.5f) / 0.25f).ToArray(), 3, Height, Width);
        var targets = new Dictionary<string, Tensor>();
        foreach (var t in Tasks)
            targets[t.Name] = t.Name switch
            {
                "seg" => Tensor.FromArray(r.Seg, Height, Width),
                "depth" => Tensor.FromArray(r.Depth, 1, Height, Width),
                "normal" => Tensor.FromArray(r.Normal, 3, Height, Width),
                "edges" => Tensor.FromArray(r.Edges, 1, Height, Width),
                _ => Tensor.FromArray(r.Keypoints, 1, Height, Width),
            };
        return new Sample(img, targets);
    }
}
