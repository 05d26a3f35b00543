namespace MtlPrune.Engine.Optim;

/// <summary>
/// Learning-rate schedule (~ <c>torch.optim.lr_scheduler</c>): each <see cref="Step"/> advances the epoch
/// counter and sets every group's lr to <see cref="LrAt"/>(initial lr, epoch), the closed form.
/// </summary>
public abstract class LrScheduler
{
    private readonly Optimizer _optimizer;

    /// <summary>Number of <see cref="Step"/> calls so far (~ <c>last_epoch</c>).</summary>
    public int Epoch { get; private set; }

    protected LrScheduler(Optimizer optimizer) => _optimizer = optimizer;

    /// <summary>Sets the step counter (when resuming) and the groups' learning rates to match it.</summary>
    public void SetEpoch(int epoch)
    {
        Epoch = epoch;
        foreach (var g in _optimizer.Groups) g.Lr = LrAt(g.InitialLr, Epoch);
    }

    /// <summary>Advances one step and updates the groups' learning rates.</summary>
    public void Step()
    {
        Epoch++;
        foreach (var g in _optimizer.Groups) g.Lr = LrAt(g.InitialLr, Epoch);
    }

    /// <summary>The learning rate after <paramref name="epoch"/> steps for a group that started at <paramref name="baseLr"/>.</summary>
    public abstract double LrAt(double baseLr, int epoch);
}

/// <summary>lr = base·γ^⌊epoch/stepSize⌋ (~ <c>StepLR</c>).</summary>
public sealed class StepLr : LrScheduler
{
    private readonly int _stepSize; private readonly double _gamma;
    public StepLr(Optimizer o, int stepSize, double gamma = 0.1) : base(o)
    {
        if (stepSize < 1) throw new ArgumentException($"StepLR step size {stepSize} must be positive.");
        _stepSize = stepSize; _gamma = gamma;
    }
    public override double LrAt(double baseLr, int epoch) => baseLr * Math.Pow(_gamma, epoch / _stepSize);
}

/// <summary>lr = base·γ^(number of milestones ≤ epoch) (~ <c>MultiStepLR</c>).</summary>
public sealed class MultiStepLr : LrScheduler
{
    private readonly int[] _milestones; private readonly double _gamma;
    public MultiStepLr(Optimizer o, IEnumerable<int> milestones, double gamma = 0.1) : base(o)
    {
        _milestones = milestones.OrderBy(m => m).ToArray(); _gamma = gamma;
    }
    public override double LrAt(double baseLr, int epoch) => baseLr * Math.Pow(_gamma, _milestones.Count(m => m <= epoch));
}

/// <summary>lr = η_min + (base − η_min)·(1 + cos(π·epoch/T_max))/2 (~ <c>CosineAnnealingLR</c>, closed form).</summary>
public sealed class CosineLr : LrScheduler
{
    private readonly int _tMax; private readonly double _etaMin;
    public CosineLr(Optimizer o, int tMax, double etaMin = 0) : base(o)
    {
        if (tMax < 1) throw new ArgumentException($"Cosine T_max {tMax} must be positive.");
        _tMax = tMax; _etaMin = etaMin;
    }
    public override double LrAt(double baseLr, int epoch) => _etaMin + (baseLr - _etaMin) * (1 + Math.Cos(Math.PI * epoch / _tMax)) / 2;
}
