namespace MtlPrune.Engine.Optim;

/// <summary>
/// Stochastic gradient descent (~ <c>torch.optim.SGD</c>): g ← grad + wd·p; with momentum μ,
/// b ← g on the first step, else μ·b + (1−dampening)·g; Nesterov uses g + μ·b, otherwise b; p ← p − lr·g.
/// </summary>
public sealed class Sgd : Optimizer
{
    public double Momentum { get; }
    public double Dampening { get; }
    public bool Nesterov { get; }

    public Sgd(IEnumerable<Tensor> parameters, double lr, double momentum = 0, double weightDecay = 0, double dampening = 0, bool nesterov = false)
        : this(new[] { new ParamGroup(parameters, lr, weightDecay) }, momentum, dampening, nesterov) { }

    public Sgd(IEnumerable<ParamGroup> groups, double momentum = 0, double dampening = 0, bool nesterov = false) : base(groups)
    {
        if (momentum < 0) throw new ArgumentException($"SGD momentum {momentum} must be non-negative.");
        if (nesterov && (momentum <= 0 || dampening != 0)) throw new ArgumentException("Nesterov momentum requires a momentum and zero dampening.");
        Momentum = momentum; Dampening = dampening; Nesterov = nesterov;
    }

    protected override float[][] CreateState(int n) => Momentum != 0 ? new[] { new float[n] } : Array.Empty<float[]>();

    protected override void Update(ParamGroup group, Span<float> p, ReadOnlySpan<float> grad, float[][] state, int step)
    {
        float lr = (float)group.Lr, wd = (float)group.WeightDecay, mu = (float)Momentum, damp = (float)(1 - Dampening);
        var buf = Momentum != 0 ? state[0] : null;
        for (int i = 0; i < p.Length; i++)
        {
            float g = grad[i] + wd * p[i];
            if (buf is not null)
            {
                buf[i] = step == 1 ? g : mu * buf[i] + damp * g;
                g = Nesterov ? g + mu * buf[i] : buf[i];
            }
            p[i] -= lr * g;
        }
    }
}
