using MtlPrune.Tasks;

namespace MtlPrune.Interop;

/// <summary>
/// A task as the user names it for an import: <c>name[=kind][:channels]</c>, e.g. <c>seg:40</c>, <c>sn=normals:3</c>,
/// <c>depth</c>. The kind defaults from the name (seg, normal/sn, depth, keypoint(s), edge(s)); the channel count, when
/// given, is checked against the file.
/// </summary>
public sealed record TaskRequest(string Name, TaskKind Kind, int? Channels)
{
    /// <summary>Parses a comma-separated list.</summary>
    /// <exception cref="ArgumentException">An item is malformed or its kind cannot be told from its name.</exception>
    public static IReadOnlyList<TaskRequest> ParseList(string s) =>
        s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Parse).ToList();

    public static TaskRequest Parse(string item)
    {
        var (head, count) = item.Split(':') switch
        {
            [var h] => (h, (int?)null),
            [var h, var c] when int.TryParse(c, out int n) && n > 0 => (h, n),
            _ => throw new ArgumentException($"--tasks: '{item}' is not name[=kind][:channels] (e.g. seg:40, sn=normals:3, depth)."),
        };
        var parts = head.Split('=');
        if (parts.Length > 2 || parts[0].Length == 0) throw new ArgumentException($"--tasks: '{item}' is not name[=kind][:channels].");
        var kind = parts.Length == 2 ? ParseKind(parts[1], item) : KindFromName(parts[0])
            ?? throw new ArgumentException($"--tasks: cannot tell the kind of task '{parts[0]}' from its name; write {parts[0]}=<kind> with kind segmentation, depth, normals, keypoints, edges or classification.");
        return new TaskRequest(parts[0], kind, count);
    }

    /// <summary>The kind a task name suggests (the names used by AdaShare, DiSparse, CUT, AdapMTL, MTAN and LibMTL).</summary>
    public static TaskKind? KindFromName(string name) => name.ToLowerInvariant() switch
    {
        "seg" or "segment_semantic" or "semantic" or "segmentation" => TaskKind.Segmentation,
        "depth" or "depth_zbuffer" or "disparity" => TaskKind.Depth,
        "normal" or "normals" or "sn" or "surface_normal" => TaskKind.Normals,
        "keypoint" or "keypoints" or "keypoints2d" => TaskKind.Keypoints,
        "edge" or "edges" or "edge_texture" => TaskKind.Edges,
        "left" or "right" or "cls" or "class" or "classification" => TaskKind.Classification,
        _ => null,
    };

    private static TaskKind ParseKind(string s, string item) => s.ToLowerInvariant() switch
    {
        "segmentation" or "seg" => TaskKind.Segmentation,
        "depth" => TaskKind.Depth,
        "normals" or "normal" => TaskKind.Normals,
        "keypoints" => TaskKind.Keypoints,
        "edges" => TaskKind.Edges,
        "classification" => TaskKind.Classification,
        _ => throw new ArgumentException($"--tasks: '{item}' names an unknown kind '{s}' (segmentation, depth, normals, keypoints, edges, classification)."),
    };

    /// <summary>The task spec for <paramref name="channels"/> outputs (segmentation ignores <paramref name="ignoreIndex"/>).</summary>
    public TaskSpec ToSpec(int channels, int ignoreIndex = 255) => new(Name, Kind, channels,
        Kind is TaskKind.Keypoints or TaskKind.Edges ? 255 : ignoreIndex);
}
