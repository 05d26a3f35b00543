namespace MtlPrune.Engine.Optim;

/// <summary>
/// A set of parameters sharing hyper-parameters (~ a <c>param_group</c> dict). Options left null use the
/// optimizer's defaults.
/// </summary>
public sealed class ParamGroup
{
    public IReadOnlyList<Tensor> Params { get; }
    /// <summary>Current learning rate; schedulers write it.</summary>
    public double Lr { get; set; }
    /// <summary>The learning rate the group started with (~ <c>initial_lr</c>).</summary>
    public double InitialLr { get; }
    public double WeightDecay { get; set; }

    public ParamGroup(IEnumerable<Tensor> parameters, double lr, double weightDecay = 0)
    {
        Params = parameters.ToList();
        if (lr < 0) throw new ArgumentException($"Learning rate {lr} must be non-negative.");
        if (weightDecay < 0) throw new ArgumentException($"Weight decay {weightDecay} must be non-negative.");
        Lr = InitialLr = lr; WeightDecay = weightDecay;
    }
}

/// <summary>
/// Base of the optimizers (~ <c>torch.optim.Optimizer</c>). <see cref="Step"/> updates every parameter of
/// every group in place and skips parameters whose gradient is absent (null), as PyTorch does.
/// </summary>
public abstract class Optimizer
{
    public IReadOnlyList<ParamGroup> Groups { get; }
    private readonly Dictionary<Tensor, float[][]> _state = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Tensor, int> _steps = new(ReferenceEqualityComparer.Instance);

    protected Optimizer(IEnumerable<ParamGroup> groups)
    {
        Groups = groups.ToList();
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var g in Groups)
            foreach (var p in g.Params)
            {
                if (!seen.Add(p)) throw new ArgumentException($"Parameter '{p.Name}' appears in more than one parameter group.");
                if (!p.IsContiguous) throw new ArgumentException($"Parameter '{p.Name}' must be contiguous.");
            }
    }

    /// <summary>Applies one update to every parameter with a gradient (~ <c>step()</c>).</summary>
    public void Step()
    {
        using var _ = Autograd.NoGrad();
        foreach (var g in Groups)
            foreach (var p in g.Params)
            {
                if (p.Grad is null) continue;
                if (!Autograd.SameShape(p.Grad.Shape, p.Shape))
                    throw new InvalidOperationException($"Gradient of '{p.Name}' has shape {Tensor.ShapeString(p.Grad.Shape)}, parameter has {Tensor.ShapeString(p.Shape)}.");
                int t = _steps.TryGetValue(p, out var s) ? s + 1 : 1;
                _steps[p] = t;
                if (!_state.TryGetValue(p, out var st)) _state[p] = st = CreateState(p.Numel);
                Update(g, p.Span, p.Grad.Contiguous().Span, st, t);
            }
        if (OpProfiler.Enabled) OpProfiler.Mark();
    }

    /// <summary>Clears the gradients of all parameters (~ <c>zero_grad(set_to_none=True)</c>).</summary>
    public void ZeroGrad() { foreach (var g in Groups) foreach (var p in g.Params) p.Grad = null; }

    /// <summary>Per-parameter state buffers (momentum, moments), created zeroed on a parameter's first step.</summary>
    protected abstract float[][] CreateState(int n);

    /// <summary>Updates one parameter in place. <paramref name="step"/> counts this parameter's updates from 1.</summary>
    protected abstract void Update(ParamGroup group, Span<float> param, ReadOnlySpan<float> grad, float[][] state, int step);

    /// <summary>Number of updates applied to <paramref name="p"/> so far.</summary>
    public int StepCount(Tensor p) => _steps.TryGetValue(p, out var s) ? s : 0;

    /// <summary>The state buffers of <paramref name="p"/> (for inspection and tests); null before its first step.</summary>
    public IReadOnlyList<float[]>? StateOf(Tensor p) => _state.TryGetValue(p, out var s) ? s : null;
}
