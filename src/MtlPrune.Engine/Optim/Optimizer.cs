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

    /// <summary>
    /// Clears the gradients of all parameters (~ <c>zero_grad(set_to_none=True)</c>); buffers autograd allocated are
    /// recycled for the next backward pass (see <see cref="Tensor.RecycleGrad"/>).
    /// </summary>
    public void ZeroGrad() { foreach (var g in Groups) foreach (var p in g.Params) p.RecycleGrad(); }

    /// <summary>Per-parameter state buffers (momentum, moments), created zeroed on a parameter's first step.</summary>
    protected abstract float[][] CreateState(int n);

    /// <summary>Updates one parameter in place. <paramref name="step"/> counts this parameter's updates from 1.</summary>
    protected abstract void Update(ParamGroup group, Span<float> param, ReadOnlySpan<float> grad, float[][] state, int step);

    /// <summary>Number of updates applied to <paramref name="p"/> so far.</summary>
    public int StepCount(Tensor p) => _steps.TryGetValue(p, out var s) ? s : 0;

    /// <summary>
    /// The optimizer's state as tensors for a checkpoint (~ <c>state_dict</c>): for parameter i (in group order)
    /// <c>param.{i}.step</c> and <c>param.{i}.state.{k}</c>, plus <c>group.{g}.lr</c>.
    /// </summary>
    public Dictionary<string, Tensor> ExportState()
    {
        var d = new Dictionary<string, Tensor>();
        int i = 0;
        for (int gi = 0; gi < Groups.Count; gi++)
        {
            d[$"group.{gi}.lr"] = Tensor.FromArray(new[] { (float)Groups[gi].Lr }, 1);
            foreach (var p in Groups[gi].Params)
            {
                if (_steps.TryGetValue(p, out int st))
                {
                    var t = Tensor.Scalar(st); t.FileDType = DType.I64;
                    d[$"param.{i}.step"] = t;
                    var bufs = _state[p];
                    for (int k = 0; k < bufs.Length; k++) d[$"param.{i}.state.{k}"] = Tensor.FromArray(bufs[k], p.Shape);
                }
                i++;
            }
        }
        return d;
    }

    /// <summary>Restores state written by <see cref="ExportState"/> for the same parameter list.</summary>
    /// <exception cref="ArgumentException">A state tensor does not match its parameter's shape.</exception>
    public void ImportState(IReadOnlyDictionary<string, Tensor> state)
    {
        int i = 0;
        for (int gi = 0; gi < Groups.Count; gi++)
        {
            if (state.TryGetValue($"group.{gi}.lr", out var lr)) Groups[gi].Lr = lr.ToArray()[0];
            foreach (var p in Groups[gi].Params)
            {
                if (state.TryGetValue($"param.{i}.step", out var st))
                {
                    _steps[p] = (int)st.Item();
                    var bufs = CreateState(p.Numel);
                    for (int k = 0; k < bufs.Length; k++)
                    {
                        var t = state.TryGetValue($"param.{i}.state.{k}", out var v) ? v
                            : throw new ArgumentException($"Optimizer state lacks param.{i}.state.{k} for '{p.Name}'.");
                        if (t.Numel != p.Numel) throw new ArgumentException($"Optimizer state param.{i}.state.{k} has {t.Numel} values, parameter '{p.Name}' has {p.Numel}.");
                        t.Contiguous().Span.CopyTo(bufs[k]);
                    }
                    _state[p] = bufs;
                }
                i++;
            }
        }
    }

    /// <summary>
    /// Multiplies every state buffer of <paramref name="p"/> (momentum, Adam's moments) by <paramref name="mask"/>, so
    /// that entries a pruning mask removed carry no momentum that could revive them. Parameters without state yet are
    /// left alone.
    /// </summary>
    /// <exception cref="ArgumentException">The mask's length differs from the parameter's element count.</exception>
    public void MaskState(Tensor p, ReadOnlySpan<float> mask)
    {
        if (mask.Length != p.Numel) throw new ArgumentException($"MaskState: mask has {mask.Length} values, parameter '{p.Name}' has {p.Numel}.");
        if (!_state.TryGetValue(p, out var bufs)) return;
        foreach (var b in bufs) System.Numerics.Tensors.TensorPrimitives.Multiply(b, mask, b);
    }

    /// <summary>The state buffers of <paramref name="p"/> (for inspection and tests); null before its first step.</summary>
    public IReadOnlyList<float[]>? StateOf(Tensor p) => _state.TryGetValue(p, out var s) ? s : null;
}
