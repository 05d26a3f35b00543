using System.Text.RegularExpressions;
using MtlPrune.Engine.NN;
using MtlPrune.Models;

namespace MtlPrune.Pruning;

/// <summary>
/// Which weights a pruning method may mask: by role (<c>backbone</c>, <c>heads</c>, <c>head:&lt;task&gt;</c>), by layer
/// type, and by parameter-name globs (<c>*</c> matches within one dotted part, <c>**</c> across parts; a pattern with no
/// <c>.weight</c> suffix also matches the weight of a layer of that name). The default is every conv and linear weight
/// of the backbone and of every kept head, the convention of all codebases in methods.md §4. Biases and batch-norm
/// parameters are never pruned.
/// </summary>
public sealed record PruningSelection
{
    /// <summary>Roles to include; empty means all (<c>backbone</c>, <c>heads</c>, or <c>head:&lt;task&gt;</c>).</summary>
    public IReadOnlyList<string> Roles { get; init; } = Array.Empty<string>();
    /// <summary>Layer types to include (default: all four).</summary>
    public IReadOnlyList<LayerType> Types { get; init; } = Enum.GetValues<LayerType>();
    /// <summary>Name globs a weight must match (any of them); empty means all.</summary>
    public IReadOnlyList<string> Include { get; init; } = Array.Empty<string>();
    /// <summary>Name globs that exclude a weight.</summary>
    public IReadOnlyList<string> Exclude { get; init; } = Array.Empty<string>();

    public static readonly PruningSelection Default = new();

    /// <summary>The layer type of a weighted layer.</summary>
    public static LayerType TypeOf(IWeightedLayer layer) => layer switch
    {
        Linear => LayerType.Linear,
        Conv2d c when c.Groups == c.InChannels && c.Groups > 1 => LayerType.Depthwise,
        Conv2d { KernelSize: (1, 1), Groups: 1 } => LayerType.Pointwise,
        _ => LayerType.Conv,
    };

    /// <summary>Parses a layer-type name: conv, pointwise (or conv1x1), depthwise, linear.</summary>
    public static LayerType ParseType(string s) => s.Trim().ToLowerInvariant() switch
    {
        "conv" => LayerType.Conv,
        "pointwise" or "conv1x1" => LayerType.Pointwise,
        "depthwise" => LayerType.Depthwise,
        "linear" => LayerType.Linear,
        _ => throw new ArgumentException($"--layer-types: unknown layer type '{s}' (conv, pointwise, depthwise, linear)."),
    };

    /// <summary>Every weight of <paramref name="model"/> this selection matches, in parameter order.</summary>
    /// <exception cref="ArgumentException">A role names a task the model does not have, or nothing matches.</exception>
    public IReadOnlyList<PrunableTensor> Select(MultiTaskModel model)
    {
        foreach (var r in Roles)
        {
            if (r is "backbone" or "heads") continue;
            if (!r.StartsWith("head:")) throw new ArgumentException($"--roles: unknown role '{r}' (backbone, heads, head:<task>).");
            var task = r["head:".Length..];
            if (model.Tasks.All(t => t.Name != task))
                throw new ArgumentException($"--roles: the model has no task '{task}' (tasks: {string.Join(", ", model.Tasks.Select(t => t.Name))}).");
        }
        var include = Include.Select(Glob).ToList();
        var exclude = Exclude.Select(Glob).ToList();
        var list = new List<PrunableTensor>();
        foreach (var p in model.ParameterInfos())
        {
            if (p.Owner is not IWeightedLayer layer || !ReferenceEquals(layer.Weight, p.Tensor)) continue;
            var type = TypeOf(layer);
            if (!Types.Contains(type)) continue;
            if (Roles.Count > 0 && !Roles.Any(r => r == "backbone" ? p.Role.IsShared : r == "heads" ? !p.Role.IsShared : r == p.Role.ToString())) continue;
            if (include.Count > 0 && !include.Any(g => g.IsMatch(p.Name))) continue;
            if (exclude.Any(g => g.IsMatch(p.Name))) continue;
            list.Add(new PrunableTensor(p.Name, layer, p.Role, type));
        }
        if (list.Count == 0) throw new ArgumentException($"The pruning selection matches no weight of the model ({Describe()}); run with --dry-run to list the prunable layers.");
        return list;
    }

    /// <summary>A one-line description of the selection for messages and reports.</summary>
    public string Describe()
    {
        var parts = new List<string> { "roles " + (Roles.Count == 0 ? "all" : string.Join(",", Roles)), "types " + string.Join(",", Types.Select(t => t.ToString().ToLowerInvariant())) };
        if (Include.Count > 0) parts.Add("include " + string.Join(",", Include));
        if (Exclude.Count > 0) parts.Add("exclude " + string.Join(",", Exclude));
        return string.Join("; ", parts);
    }

    /// <summary>A glob over dotted names; a pattern that does not end in a parameter name also matches <c>&lt;pattern&gt;.weight</c>.</summary>
    internal static Regex Glob(string pattern)
    {
        var body = Regex.Escape(pattern.Trim()).Replace(@"\*\*", "\u0001").Replace(@"\*", @"[^.]*").Replace(@"\?", @"[^.]").Replace("\u0001", ".*");
        return new Regex($"^{body}(\\.weight)?$", RegexOptions.CultureInvariant);
    }
}
