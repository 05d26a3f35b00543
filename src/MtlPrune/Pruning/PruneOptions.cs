namespace MtlPrune.Pruning;

/// <summary>
/// Everything a pruning run needs besides the method. Fine-tuning defaults are the CUT reference code's for NYUv2
/// (methods.md §1.6): Adam, lr 1e-5, 1000 iterations, weight decay 1e-4, StepLR every 1000 steps by 0.7, validation
/// every 50 steps. Data settings left null come from the training configuration stored in the source checkpoint.
/// </summary>
public sealed record PruneOptions
{
    /// <summary>The dense (or already pruned) source checkpoint.</summary>
    public required string Checkpoint { get; init; }
    /// <summary>The tasks to keep; the other heads are dropped.</summary>
    public required IReadOnlyList<string> Tasks { get; init; }
    /// <summary>Requested sparsity over the selected weights, in (0, 1).</summary>
    public required double Sparsity { get; init; }
    /// <summary>Output directory.</summary>
    public required string Output { get; init; }
    public PruningSelection Selection { get; init; } = PruningSelection.Default;
    public ulong Seed { get; init; }

    public int FinetuneIterations { get; init; } = 1000;
    public string Optimizer { get; init; } = "adam";
    public double Lr { get; init; } = 1e-5;
    public double WeightDecay { get; init; } = 1e-4;
    /// <summary>none, step, multistep or cosine.</summary>
    public string Schedule { get; init; } = "step";
    public int StepSize { get; init; } = 1000;
    public double Gamma { get; init; } = 0.7;
    public int EvalEvery { get; init; } = 50;
    /// <summary>Batch norm during fine-tuning: <c>train</c> (the reference code) or <c>frozen</c> (running statistics fixed).</summary>
    public string BatchNorm { get; init; } = "train";
    /// <summary>Batch size of fine-tuning and calibration; null: the source training's.</summary>
    public int? Batch { get; init; }
    /// <summary>λ per kept task; null: the source training's weights.</summary>
    public IReadOnlyDictionary<string, double>? LossWeights { get; init; }

    public string? Data { get; init; }
    public string? DataRoot { get; init; }
    public int? Size { get; init; }
    public int? TrainCount { get; init; }
    public int? ValCount { get; init; }
    /// <summary>Test images of generated data (scenes, multi-mnist); real data sets use their whole test split.</summary>
    public int TestCount { get; init; } = 200;
    public int? Classes { get; init; }

    /// <summary>Scales every iteration count (the fine-tune's and the method's own) for quick looks, e.g. 0.1.</summary>
    public double Budget { get; init; } = 1;
    /// <summary>Log a damaged sample of a real data set and use the next one, instead of stopping.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault)]
    public bool SkipBadSamples { get; init; }

    /// <summary>Checks the values and names the option at fault.</summary>
    public void Validate()
    {
        if (!(Sparsity > 0 && Sparsity < 1)) throw new ArgumentException($"--sparsity must be in (0, 1), got {Sparsity}.");
        if (Tasks.Count == 0) throw new ArgumentException("--tasks must name at least one task to keep.");
        if (Tasks.Distinct().Count() != Tasks.Count) throw new ArgumentException($"--tasks names a task twice: {string.Join(",", Tasks)}.");
        if (FinetuneIterations < 0) throw new ArgumentException($"--finetune-iters must be 0 or more, got {FinetuneIterations}.");
        if (Lr <= 0) throw new ArgumentException($"--lr must be positive, got {Lr}.");
        if (WeightDecay < 0) throw new ArgumentException($"--weight-decay must be 0 or more, got {WeightDecay}.");
        if (EvalEvery < 1) throw new ArgumentException($"--eval-every must be positive, got {EvalEvery}.");
        if (Batch is < 1) throw new ArgumentException($"--batch must be positive, got {Batch}.");
        if (!(Budget > 0 && Budget <= 100)) throw new ArgumentException($"--budget must be in (0, 100], got {Budget}.");
        if (TestCount < 1) throw new ArgumentException($"--test-count must be positive, got {TestCount}.");
        if (LossWeights is not null)
            foreach (var k in LossWeights.Keys)
                if (!Tasks.Contains(k)) throw new ArgumentException($"--loss-weights names task '{k}', which is not among the kept tasks ({string.Join(", ", Tasks)}).");
    }
}
