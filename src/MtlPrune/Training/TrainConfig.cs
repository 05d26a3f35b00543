using System.Text.Json;
using System.Text.Json.Serialization;
using MtlPrune.Data;
using MtlPrune.Models;
using MtlPrune.Tasks;

namespace MtlPrune.Training;

/// <summary>Everything `mtlprune train` needs; read from flags or from a YAML/JSON file (camelCase keys).</summary>
public sealed class TrainConfig
{
    /// <summary>Model preset: resnet-mini, deeplab-resnet34, mobilenetv2.</summary>
    public string Model { get; set; } = "resnet-mini";
    /// <summary>Optional architecture overrides on top of the preset (for small experiments).</summary>
    public int[]? Widths { get; set; }
    public int[]? Blocks { get; set; }
    /// <summary>Dense head type override: light or aspp.</summary>
    public string? Head { get; set; }
    public int? HeadWidth { get; set; }

    /// <summary>Data set: scenes (built in), nyuv2-mtan, nyuv2-adashare, cityscapes-mtan, cityscapes-adashare, taskonomy, multi-mnist, multi-fashion.</summary>
    public string Data { get; set; } = "scenes";
    /// <summary>Root directory of a real data set.</summary>
    public string? DataRoot { get; set; }
    public string[] Tasks { get; set; } = { "seg", "depth", "normal" };
    /// <summary>Input resolution of the built-in scenes (square).</summary>
    public int Size { get; set; } = 64;
    public int TrainCount { get; set; } = 2000;
    public int ValCount { get; set; } = 200;
    public int Iterations { get; set; } = 2000;
    public int Batch { get; set; } = 8;
    /// <summary>sgd, adam or adamw.</summary>
    public string Optimizer { get; set; } = "adam";
    public double Lr { get; set; } = 2e-3;
    public double WeightDecay { get; set; } = 1e-4;
    public double Momentum { get; set; } = 0.9;
    public double Beta1 { get; set; } = 0.9;
    /// <summary>none, step, multistep or cosine.</summary>
    public string Schedule { get; set; } = "cosine";
    public int StepSize { get; set; } = 1000;
    public double Gamma { get; set; } = 0.5;
    public int[] Milestones { get; set; } = Array.Empty<int>();
    /// <summary>Per-task loss weights λ (default 1).</summary>
    public Dictionary<string, double> LossWeights { get; set; } = new();
    public ulong Seed { get; set; }
    /// <summary>Seed of the generated data sets (scenes, multi-mnist), when it should differ from <see cref="Seed"/>
    /// (a fine-tune keeps its source's data but samples with its own seed).</summary>
    public ulong? DataSeed { get; set; }
    public int EvalEvery { get; set; } = 500;
    public bool Augment { get; set; } = true;
    /// <summary>
    /// Batch norm while training: <c>train</c> (batch statistics, running statistics updated; PyTorch's and the reference
    /// code's behaviour) or <c>frozen</c> (the running statistics normalise and stay fixed; scale and shift still train).
    /// </summary>
    public string BatchNorm { get; set; } = "train";
    public double ScaleMin { get; set; } = 1.0;
    public double ScaleMax { get; set; } = 1.25;
    public string Output { get; set; } = "runs/train";
    /// <summary>Log a damaged sample of a file-backed data set and go on with the next one, instead of stopping.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool SkipBadSamples { get; set; }

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true, PropertyNameCaseInsensitive = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads a YAML (.yaml, .yml) or JSON file with camelCase keys; unknown keys are an error naming the file.</summary>
    public static TrainConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Config file '{path}' does not exist.", path);
        var text = File.ReadAllText(path);
        try
        {
            var config = path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
                ? JsonSerializer.Deserialize<TrainConfig>(text, new JsonSerializerOptions(Json) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow })
                    ?? throw new FormatException("empty document")
                : new YamlDotNet.Serialization.DeserializerBuilder()
                    .WithNamingConvention(YamlDotNet.Serialization.NamingConventions.CamelCaseNamingConvention.Instance)
                    .Build().Deserialize<TrainConfig>(text) ?? new TrainConfig();
            config.RequireValues();
            return config;
        }
        catch (Exception e) when (e is JsonException or YamlDotNet.Core.YamlException or FormatException)
        {
            throw new FormatException($"{path}: invalid training config: {e.Message}");
        }
    }

    /// <summary>A key written without a value (<c>tasks:</c>) deserialises to null; name it instead of failing later.</summary>
    private void RequireValues()
    {
        foreach (var (key, value) in new (string, object?)[]
                 {
                     ("model", Model), ("data", Data), ("tasks", Tasks), ("optimizer", Optimizer), ("schedule", Schedule), ("milestones", Milestones),
                     ("lossWeights", LossWeights), ("batchNorm", BatchNorm), ("output", Output),
                 })
            if (value is null) throw new FormatException($"'{key}' has no value.");
        if (Tasks.Any(t => t is null)) throw new FormatException("'tasks' holds an empty entry.");
    }

    /// <summary>Checks values and names the option at fault.</summary>
    public void Validate()
    {
        if (Iterations < 1) throw new ArgumentException($"iterations must be positive, got {Iterations}.");
        if (Batch < 1) throw new ArgumentException($"batch must be positive, got {Batch}.");
        if (TrainCount < 1) throw new ArgumentException($"trainCount (--train-count) must be positive, got {TrainCount}.");
        if (ValCount < 1) throw new ArgumentException($"valCount (--val-count) must be positive: model selection needs a validation split, got {ValCount}.");
        if (Size < 8) throw new ArgumentException($"size (--size) must be at least 8, got {Size}.");
        if (EvalEvery < 1) throw new ArgumentException($"evalEvery (--eval-every) must be positive, got {EvalEvery}.");
        if (Lr <= 0) throw new ArgumentException($"lr must be positive, got {Lr}.");
        if (Tasks.Length == 0) throw new ArgumentException("tasks must name at least one task.");
        if (Optimizer is not ("sgd" or "adam" or "adamw")) throw new ArgumentException($"optimizer must be sgd, adam or adamw, got '{Optimizer}'.");
        if (Schedule is not ("none" or "step" or "multistep" or "cosine")) throw new ArgumentException($"schedule must be none, step, multistep or cosine, got '{Schedule}'.");
        if (BatchNorm is not ("train" or "frozen")) throw new ArgumentException($"batchNorm (--bn) must be train or frozen, got '{BatchNorm}'.");
        foreach (var k in LossWeights.Keys)
            if (!Tasks.Contains(k)) throw new ArgumentException($"lossWeights names task '{k}', which is not among tasks ({string.Join(", ", Tasks)}).");
    }

    /// <summary>The model spec for this configuration's tasks.</summary>
    public ModelSpec BuildSpec(IReadOnlyList<TaskSpec> dataTasks)
    {
        var tasks = Tasks.Select(t => dataTasks.FirstOrDefault(d => d.Name == t)
            ?? throw new ArgumentException($"task '{t}' is not in data '{Data}' (available: {string.Join(", ", dataTasks.Select(d => d.Name))}).")).ToArray();
        var spec = ModelSpec.Preset(Model, tasks);
        if (Widths is not null)
        {
            if (Widths.Length != spec.Widths.Length) throw new ArgumentException($"widths needs {spec.Widths.Length} values for {Model}, got {Widths.Length}.");
            spec = spec with { Widths = Widths };
        }
        if (Blocks is not null)
        {
            if (Blocks.Length != spec.Blocks.Length) throw new ArgumentException($"blocks needs {spec.Blocks.Length} values for {Model}, got {Blocks.Length}.");
            spec = spec with { Blocks = Blocks };
        }
        if (Head is not null) spec = spec with { Head = Head };
        if (HeadWidth is int hw) spec = spec with { HeadWidth = hw };
        return spec;
    }

    /// <summary>Segmentation classes for Cityscapes (7 or 19).</summary>
    public int Classes { get; set; } = 19;

    /// <summary>Train and validation splits of the configured data.</summary>
    public (IDataset Train, IDataset Val) OpenData() => (OpenSplit(Split.Train, TrainCount), OpenSplit(Split.Validation, ValCount));

    /// <summary>One split of the configured data; <paramref name="count"/> sizes generated data (and the validation split).</summary>
    public IDataset OpenSplit(Split split, int count) =>
        DataSets.Open(Data, DataRoot, split, count, ValCount, Size, DataSeed ?? Seed, Tasks, Classes, SkipBadSamples);

    /// <summary>The configuration stored in a checkpoint's metadata (<c>mtlprune.config</c>), or null when there is none.</summary>
    /// <exception cref="FormatException">The stored configuration is not valid JSON for this type.</exception>
    public static TrainConfig? FromMetadata(IReadOnlyDictionary<string, string> metadata, string source)
    {
        if (!metadata.TryGetValue("mtlprune.config", out var json)) return null;
        try { return JsonSerializer.Deserialize<TrainConfig>(json, Json); }
        catch (JsonException e) { throw new FormatException($"{source}: invalid training configuration in the metadata: {e.Message}"); }
    }

    /// <summary>A copy (through JSON).</summary>
    public TrainConfig Clone() => JsonSerializer.Deserialize<TrainConfig>(ToJson(), Json)!;
}
