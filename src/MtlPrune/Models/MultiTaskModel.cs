using MtlPrune.Engine;
using MtlPrune.Engine.NN;
using MtlPrune.Tasks;

namespace MtlPrune.Models;

/// <summary>
/// A shared backbone feeding one head per task (~ LibMTL's hard parameter sharing). <see cref="ForwardAll"/> returns a
/// dictionary task → prediction. Parameter names follow PyTorch's convention: <c>backbone.*</c> and <c>heads.&lt;task&gt;.*</c>.
/// </summary>
public sealed class MultiTaskModel : Module
{
    private readonly ModuleDict _heads;
    private readonly Dictionary<string, TaskHead> _headByTask = new();

    /// <summary>
    /// Masks of parameters that have no parametrization (a pruned channel's batch-norm γ and β, or its conv bias), by
    /// parameter name; <c>Pruning.MaskSet</c> keeps their pruned entries at 0. Empty unless filters were pruned whole.
    /// </summary>
    internal Dictionary<string, Tensor> ParameterMasks { get; } = new();

    public ModelSpec Spec { get; }
    public Backbone Backbone { get; }
    public IReadOnlyList<TaskSpec> Tasks { get; }

    /// <summary>Assembles a model from parts; <see cref="ModelFactory.Build"/> makes one from a spec.</summary>
    public MultiTaskModel(ModelSpec spec, Backbone backbone, IReadOnlyList<(TaskSpec Task, TaskHead Head)> heads)
    {
        Spec = spec;
        Backbone = RegisterModule("backbone", backbone);
        _heads = RegisterModule("heads", new ModuleDict());
        foreach (var (t, h) in heads)
        {
            if (_headByTask.ContainsKey(t.Name)) throw new ArgumentException($"Task '{t.Name}' appears twice.");
            _heads.Add(t.Name, h);
            _headByTask[t.Name] = h;
        }
        Tasks = heads.Select(h => h.Task).ToList();
    }

    /// <summary>The head of <paramref name="task"/>.</summary>
    public TaskHead Head(string task) => _headByTask.TryGetValue(task, out var h) ? h
        : throw new KeyNotFoundException($"Model has no task '{task}' (tasks: {string.Join(", ", Tasks.Select(t => t.Name))}).");

    public TaskSpec Task(string name) => Tasks.FirstOrDefault(t => t.Name == name)
        ?? throw new KeyNotFoundException($"Model has no task '{name}' (tasks: {string.Join(", ", Tasks.Select(t => t.Name))}).");

    /// <summary>Predictions of every task (or of <paramref name="only"/>), at the input resolution for dense heads that upsample.</summary>
    public Dictionary<string, Tensor> ForwardAll(Tensor x, IReadOnlyCollection<string>? only = null)
    {
        var features = Backbone.Forward(x);
        var size = (x.Shape[2], x.Shape[3]);
        var r = new Dictionary<string, Tensor>();
        foreach (var t in Tasks)
            if (only is null || only.Contains(t.Name)) r[t.Name] = _headByTask[t.Name].Predict(features, size);
        return r;
    }

    /// <summary>
    /// Every parameter with its role (structural: under <c>backbone</c> → shared, under <c>heads.&lt;task&gt;</c> →
    /// that task's head) and whether it is prunable under <paramref name="selection"/>.
    /// </summary>
    public IReadOnlyList<ParameterInfo> ParameterInfos(PrunableSelection? selection = null)
    {
        selection ??= PrunableSelection.Default;
        var list = new List<ParameterInfo>();
        void Walk(Module root, string prefix, ParamRole role)
        {
            foreach (var (name, m) in root.NamedModules(prefix))
                foreach (var (pname, p) in m.NamedParameters(recurse: false))
                {
                    bool prunable = m switch
                    {
                        Conv2d c => ReferenceEquals(p, c.Weight) || (selection.Biases && ReferenceEquals(p, c.Bias)),
                        Linear l => ReferenceEquals(p, l.Weight) || (selection.Biases && ReferenceEquals(p, l.Bias)),
                        BatchNorm2d => selection.BatchNorm,
                        _ => false,
                    };
                    list.Add(new ParameterInfo(name + "." + pname, p, role, prunable, m));
                }
        }
        Walk(Backbone, "backbone", ParamRole.Shared);
        foreach (var t in Tasks) Walk(_headByTask[t.Name], "heads." + t.Name, ParamRole.Head(t.Name));
        return list;
    }

    /// <summary>
    /// The model restricted to <paramref name="tasks"/>: the same backbone and head modules (parameters are shared,
    /// not copied), without the other heads.
    /// </summary>
    public MultiTaskModel SelectTasks(params string[] tasks)
    {
        if (tasks.Length == 0) throw new ArgumentException("SelectTasks needs at least one task.");
        var heads = tasks.Select(t => (Task(t), Head(t))).ToList();
        var m = new MultiTaskModel(Spec with { Tasks = heads.Select(h => h.Item1).ToArray() }, Backbone, heads);
        var kept = m.NamedParameters().Select(p => p.Name).ToHashSet();
        foreach (var (name, mask) in ParameterMasks) if (kept.Contains(name)) m.ParameterMasks[name] = mask;
        m.Train(Training);
        return m;
    }
}
