namespace MtlPrune.Interop;

/// <summary>The known name layouts, looked up by name or detected from a file's tensor names.</summary>
public static class Layouts
{
    public static readonly IReadOnlyList<ITensorLayout> All = new ITensorLayout[] { new ScenenetLayout(), new MtlpruneLayout() };

    /// <summary>The layout called <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No such layout; the message lists them.</exception>
    public static ITensorLayout Get(string name) => All.FirstOrDefault(l => l.Name == name)
        ?? throw new ArgumentException($"--layout: unknown layout '{name}' (auto, {string.Join(", ", All.Select(l => l.Name))}).");

    /// <summary>The one layout that recognises <paramref name="names"/>.</summary>
    /// <exception cref="ArgumentException">None or several do; the message shows the file's first names and what each layout expects.</exception>
    public static ITensorLayout Detect(IReadOnlyCollection<string> names, string source)
    {
        var hits = All.Where(l => l.Recognizes(names)).ToList();
        if (hits.Count == 1) return hits[0];
        var sample = string.Join(", ", names.Take(6)) + (names.Count > 6 ? ", …" : "");
        throw new ArgumentException(hits.Count == 0
            ? $"{source}: cannot tell the layout of its tensor names ({sample}); known layouts: {string.Join("; ", All.Select(l => $"{l.Name} = {l.Describe}"))}. Name one with --layout."
            : $"{source}: its names fit several layouts ({string.Join(", ", hits.Select(h => h.Name))}); name one with --layout.");
    }
}
