using MtlPrune.Data;
using MtlPrune.Engine;
using MtlPrune.Engine.Optim;
using MtlPrune.Models;
using MtlPrune.Training;

namespace MtlPrune.Tests.Pruning;

public class TrainingLoopTests
{
    private sealed class Recorder : TrainingExtension
    {
        public readonly List<string> Calls = new();
        public readonly Tensor Extra = Tensor.Zeros(1);
        public double DepthWeight = 1;
        public override IEnumerable<ParamGroup> ParameterGroups(MultiTaskModel model, TrainConfig config) { Calls.Add("groups"); yield return new ParamGroup(new[] { Extra.RequiresGrad_() }, 0.5); }
        public override void OnStart(TrainingState s) => Calls.Add($"start {s.Step}");
        public override void WeighLosses(TrainingState s, IReadOnlyDictionary<string, double> losses, Dictionary<string, double> weights)
        {
            Calls.Add($"weigh {s.Step} {string.Join(",", losses.Keys)}");
            weights["depth"] = DepthWeight;
        }
        public override void AfterBackward(TrainingState s) { Calls.Add($"backward {s.Step}"); Extra.Grad = Tensor.Ones(1); }
        public override void AfterStep(TrainingState s) => Calls.Add($"step {s.Step}");
        public override void AddToLog(TrainingState s, Dictionary<string, double> values) => values["ext/extra"] = Extra.Item();
        public override void AddToCheckpoint(Dictionary<string, string> metadata) => metadata["ext.note"] = "x";
        public override void OnEnd(TrainingState s) => Calls.Add($"end {s.Step}");
    }

    private static TrainConfig Config(string output) => new()
    {
        Size = 16, TrainCount = 8, ValCount = 4, Iterations = 2, Batch = 2, EvalEvery = 2, Output = output, Lr = 1e-3, Schedule = "none",
        Tasks = new[] { "seg", "depth" },
    };

    /// <summary>Each extension point is called in order; extra groups are optimised; weights, logs and metadata flow through.</summary>
    [Fact]
    public void ExtensionPointsAreCalledInOrderAndTakeEffect()
    {
        using var dir = new TempDir();
        var cfg = Config(dir.File("r"));
        var (train, val) = cfg.OpenData();
        var model = PruningFixture.TinyModel().SelectTasks("seg", "depth");
        var rec = new Recorder();
        var r = new TrainingLoop(model, train, val, cfg, new[] { rec }).Run();
        Assert.Equal(new[] { "groups", "start 0", "weigh 0 seg,depth", "backward 0", "step 1", "weigh 1 seg,depth", "backward 1", "step 2", "end 2" }, rec.Calls);
        // Adam moves a parameter by about lr on its first steps, whatever the gradient's size: two steps of lr 0.5 against a gradient of 1.
        Assert.InRange(rec.Extra.Item(), -1.01, -0.99);
        Assert.Contains(File.ReadAllLines(dir.File("r/metrics.csv")), l => l.StartsWith("2,ext/extra,"));
        Assert.Equal("x", Checkpoint.Load(r.BestCheckpoint).Metadata["ext.note"]);
        Assert.Equal(2, r.Steps);
    }

    /// <summary>
    /// The loss weights an extension sets are the ones the gradient sees: weight 0 on depth leaves its head untouched
    /// (without weight decay, which alone would move it by lr per Adam step).
    /// </summary>
    [Fact]
    public void LossWeightsFromAnExtensionReachTheGradient()
    {
        using var dir = new TempDir();
        var cfg = Config(dir.File("w"));
        cfg.WeightDecay = 0;
        var (train, val) = cfg.OpenData();
        var model = PruningFixture.TinyModel().SelectTasks("seg", "depth");
        var depthHead = model.NamedParameters().Where(p => p.Name.StartsWith("heads.depth.") && p.Name.EndsWith("weight")).ToDictionary(p => p.Name, p => p.Tensor.ToArray());
        new TrainingLoop(model, train, val, cfg, new[] { new Recorder { DepthWeight = 0 } }).Run();
        foreach (var (name, before) in depthHead)
            Assert.Equal(before, model.NamedParameters().Single(p => p.Name == name).Tensor.ToArray());
    }

    /// <summary>With EvaluateAtStart, the untrained model is a candidate: a step-0 checkpoint exists and counts.</summary>
    [Fact]
    public void EvaluateAtStartValidatesBeforeTheFirstStep()
    {
        using var dir = new TempDir();
        var cfg = Config(dir.File("s"));
        var (train, val) = cfg.OpenData();
        var model = PruningFixture.TinyModel().SelectTasks("seg", "depth");
        var steps = new List<int>();
        new TrainingLoop(model, train, val, cfg) { EvaluateAtStart = true }.Run(evaluated: (s, _, _) => steps.Add(s));
        Assert.Equal(new[] { 0, 2 }, steps);
    }
}
