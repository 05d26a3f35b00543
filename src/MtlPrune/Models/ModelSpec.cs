using System.Text.Json;
using System.Text.Json.Serialization;
using MtlPrune.Tasks;

namespace MtlPrune.Models;

/// <summary>
/// Everything needed to rebuild a multi-task model: architecture, sizes, head type and tasks. Stored as JSON in the
/// metadata of every checkpoint (key <c>mtlprune.model</c>), so a checkpoint is self-describing.
/// </summary>
public sealed record ModelSpec
{
    /// <summary><c>resnet</c> (resnet-mini, DeepLab-ResNet34 and variants) or <c>mobilenetv2</c>.</summary>
    public string Arch { get; init; } = "resnet";
    /// <summary>A preset name for display (<c>resnet-mini</c>, <c>deeplab-resnet34</c>, <c>mobilenetv2-aspp</c>, or custom).</summary>
    public string Name { get; init; } = "custom";
    public int InChannels { get; init; } = 3;
    public int[] Widths { get; init; } = { 16, 32, 64, 128 };
    public int[] Blocks { get; init; } = { 2, 2, 2, 2 };
    public int[] Strides { get; init; } = { 1, 2, 2, 2 };
    public int[] Dilations { get; init; } = { 1, 1, 1, 1 };
    /// <summary>ResNet stem: <c>mini</c> (conv3×3 s1) or <c>deeplab</c> (conv7×7 s2 + ceil-mode max-pool).</summary>
    public string Stem { get; init; } = "mini";
    /// <summary>Dense head type: <c>light</c> or <c>aspp</c>. Classification tasks always get a pooled linear head.</summary>
    public string Head { get; init; } = "light";
    public int HeadWidth { get; init; } = 64;
    public int[] AsppRates { get; init; } = { 6, 12, 18, 24 };
    public float Dropout { get; init; } = 0.5f;
    /// <summary>Whether dense heads upsample to the input size (resnet-mini) or predict at the feature resolution (DeepLab).</summary>
    public bool Upsample { get; init; } = true;
    /// <summary>Weight init: <c>kaiming-fan-out</c>, <c>normal-0.01</c> (DeepLab backbone) or <c>mobilenet</c> (N(0, √(2/(k²·out)))).</summary>
    public string Init { get; init; } = "kaiming-fan-out";
    public TaskSpec[] Tasks { get; init; } = Array.Empty<TaskSpec>();

    private static readonly TaskSpec[] DefaultTasks =
    {
        new("seg", TaskKind.Segmentation, 13), new("depth", TaskKind.Depth, 1), new("normal", TaskKind.Normals, 3),
    };

    /// <summary>The reference network of the engine-speed issue: 922,849 parameters with the default tasks.</summary>
    public static ModelSpec ResNetMini(TaskSpec[]? tasks = null) => new() { Name = "resnet-mini", Tasks = tasks ?? DefaultTasks };

    /// <summary>DeepLab-ResNet34 with ASPP heads, exactly as methods.md §7.1–7.2 (output stride 8).</summary>
    public static ModelSpec DeepLabResNet34(TaskSpec[]? tasks = null) => new()
    {
        Name = "deeplab-resnet34", Widths = new[] { 64, 128, 256, 512 }, Blocks = new[] { 3, 4, 6, 3 }, Strides = new[] { 1, 2, 1, 1 },
        Dilations = new[] { 1, 1, 2, 4 }, Stem = "deeplab", Head = "aspp", HeadWidth = 1024, Upsample = false, Init = "normal-0.01",
        Tasks = tasks ?? new[] { new TaskSpec("seg", TaskKind.Segmentation, 40), new TaskSpec("normal", TaskKind.Normals, 3), new TaskSpec("depth", TaskKind.Depth, 1) },
    };

    /// <summary>MobileNetV2 backbone with ASPP heads (methods.md §2.6).</summary>
    public static ModelSpec MobileNetV2(TaskSpec[]? tasks = null) => DeepLabResNet34(tasks) with { Name = "mobilenetv2-aspp", Arch = "mobilenetv2", Init = "mobilenet" };

    /// <summary>Looks up a preset by name.</summary>
    /// <exception cref="ArgumentException">The name is unknown; the message lists the presets.</exception>
    /// <summary>The names <see cref="Preset"/> knows.</summary>
    public static readonly IReadOnlyList<string> PresetNames = new[] { "resnet-mini", "deeplab-resnet34", "mobilenetv2" };

    public static ModelSpec Preset(string name, TaskSpec[]? tasks = null) => name switch
    {
        "resnet-mini" => ResNetMini(tasks),
        "deeplab-resnet34" => DeepLabResNet34(tasks),
        "mobilenetv2" or "mobilenetv2-aspp" => MobileNetV2(tasks),
        _ => throw new ArgumentException($"Unknown model '{name}' (presets: resnet-mini, deeplab-resnet34, mobilenetv2)."),
    };

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = false,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Parses a spec; <paramref name="source"/> names it in errors.</summary>
    public static ModelSpec FromJson(string json, string source)
    {
        try { return JsonSerializer.Deserialize<ModelSpec>(json, Json) ?? throw new JsonException("empty"); }
        catch (JsonException e) { throw new FormatException($"{source}: invalid model spec: {e.Message}"); }
    }
}
